// Command: arguments encoded as they are added; the tables of read-only and keyless commands.
#include "tern/redis/command.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>

namespace tern::redis {
namespace {

bool equal_nocase(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'a' && x <= 'z') x = char(x - 'a' + 'A');
    if (y >= 'a' && y <= 'z') y = char(y - 'a' + 'A');
    if (x != y) return false;
  }
  return true;
}

// The length in the argument header "$<digits>\r\n" at `at`. Command wrote the digits itself,
// so they are plain decimal: strtoull's locale and sign handling cost more than the rest of an
// argument lookup, which every command sent makes (redis::ClientPolicy::asks_close).
size_t length_at(std::string_view body, size_t at) noexcept {
  size_t length = 0;
  const char* end = body.data() + body.size();
  for (const char* p = body.data() + at + 1; p < end && *p >= '0' && *p <= '9'; ++p) {
    length = length * 10 + size_t(*p - '0');
  }
  return length;
}

template <size_t N>
bool is_one_of(std::string_view name, const std::string_view (&names)[N]) noexcept {
  for (std::string_view candidate : names) {
    if (equal_nocase(name, candidate)) return true;
  }
  return false;
}

// Commands that change nothing: sending one again after a lost connection is harmless.
constexpr std::string_view kReadOnly[] = {
    "GET", "MGET", "EXISTS", "STRLEN", "GETRANGE", "SUBSTR", "TTL", "PTTL", "EXPIRETIME",
    "PEXPIRETIME", "TYPE", "SCAN", "KEYS", "RANDOMKEY", "DBSIZE", "HGET", "HGETALL", "HMGET",
    "HEXISTS", "HLEN", "HKEYS", "HVALS", "HSTRLEN", "HSCAN", "LRANGE", "LLEN", "LINDEX", "LPOS",
    "SMEMBERS", "SISMEMBER", "SMISMEMBER", "SCARD", "SSCAN", "SRANDMEMBER", "ZRANGE", "ZSCORE",
    "ZMSCORE", "ZCARD", "ZCOUNT", "ZRANK", "ZREVRANK", "ZREVRANGE", "ZRANGEBYSCORE", "ZSCAN",
    "XRANGE", "XLEN", "PING", "ECHO", "INFO", "TIME", "EVALSHA_RO", "EVAL_RO"};

constexpr std::string_view kReadOnlyCluster[] = {
    "SLOTS", "SHARDS", "NODES", "INFO", "KEYSLOT", "MYID", "COUNTKEYSINSLOT"};

// Commands without a key: any node of a cluster may take them.
constexpr std::string_view kKeyless[] = {
    "PING", "ECHO", "INFO", "CLUSTER", "SCAN", "KEYS", "RANDOMKEY", "DBSIZE", "MULTI", "EXEC",
    "DISCARD", "UNWATCH", "ASKING", "READONLY", "READWRITE", "AUTH", "HELLO", "SELECT",
    "FLUSHALL", "FLUSHDB", "SCRIPT", "FUNCTION", "QUIT", "RESET", "CONFIG", "CLIENT", "COMMAND",
    "TIME", "WAIT", "SAVE", "BGSAVE", "BGREWRITEAOF", "LASTSAVE", "ROLE", "SLOWLOG", "LATENCY",
    "PUBLISH", "SUBSCRIBE", "PSUBSCRIBE", "SWAPDB"};

constexpr std::string_view kScripts[] = {
    "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"};

void append_number(std::string& out, uint64_t number) {
  char digits[24];
  auto [end, error] = std::to_chars(digits, digits + sizeof digits, number);
  out.append(digits, size_t(end - digits));
}

}  // namespace

Command::Command(std::string_view name) { arg(name); }

Command& Command::arg(std::string_view bytes) {
  char header[24];
  header[0] = '$';
  auto [end, error] = std::to_chars(header + 1, header + sizeof header - 2, bytes.size());
  *end++ = '\r';
  *end++ = '\n';
  body_.append(std::string_view(header, size_t(end - header)));
  body_.append(bytes);
  body_.append(std::string_view("\r\n"));
  ++count_;
  return *this;
}

Command& Command::arg(int64_t number) {
  char digits[24];
  auto [end, error] = std::to_chars(digits, digits + sizeof digits, number);
  return arg(std::string_view(digits, size_t(end - digits)));
}

size_t Command::size() const noexcept { return count_; }

// Arguments are found by walking the headers: commands are short, and the cluster client asks
// for argument 1 or 2.
size_t Command::header_of(size_t i) const {
  if (i >= count_) {
    std::fprintf(stderr, "tern: Command argument %zu of %u\n", i, unsigned(count_));
    std::abort();
  }
  size_t at = 0;
  std::string_view body = body_.view();
  for (size_t n = 0; n < i; ++n) {
    size_t line_end = body.find('\r', at);
    size_t length = length_at(body, at);
    at = line_end + 2 + length + 2;
  }
  return at;
}

std::string_view Command::operator[](size_t i) const {
  size_t at = header_of(i);
  std::string_view body = body_.view();
  size_t line_end = body.find('\r', at);
  size_t length = length_at(body, at);
  return body.substr(line_end + 2, length);
}

std::string_view Command::name() const { return (*this)[0]; }

bool Command::read_only() const noexcept {
  if (count_ == 0) return false;
  std::string_view command = name();
  if (equal_nocase(command, "CLUSTER")) return count_ >= 2 && is_one_of((*this)[1], kReadOnlyCluster);
  return is_one_of(command, kReadOnly);
}

std::optional<std::string_view> Command::first_key() const {
  if (count_ < 2) return std::nullopt;
  std::string_view command = name();
  if (is_one_of(command, kKeyless)) return std::nullopt;
  if (is_one_of(command, kScripts)) {  // EVAL script numkeys key...
    if (count_ < 4 || (*this)[2] == "0") return std::nullopt;
    return (*this)[3];
  }
  if (equal_nocase(command, "XREAD") || equal_nocase(command, "XREADGROUP")) {
    for (size_t i = 1; i + 1 < count_; ++i) {
      if (equal_nocase((*this)[i], "STREAMS")) return (*this)[i + 1];
    }
    return std::nullopt;
  }
  if (equal_nocase(command, "OBJECT") || equal_nocase(command, "MEMORY")) {
    if (count_ < 3) return std::nullopt;
    return (*this)[2];
  }
  return (*this)[1];
}

void Command::encode(Output& out) const {
  char header[24];
  header[0] = '*';
  auto [end, error] = std::to_chars(header + 1, header + sizeof header - 2, count_);
  *end++ = '\r';
  *end++ = '\n';
  out.append_copy(std::string_view(header, size_t(end - header)));
  out.append_copy(body_.view());  // joined to the header: one piece
}

std::string Command::encoded() const {
  std::string out = "*";
  append_number(out, count_);
  out += "\r\n";
  out += body_.view();
  return out;
}

}  // namespace tern::redis
