// Command: a Redis command as RESP wants it, an array of bulk strings.
// Built once, encoded by a copy:
//   auto set = redis::Command("SET").arg(key).arg(value);
//   auto incr = redis::Command::of("INCRBY", "hits", 5);
// The arguments are kept already encoded ("$3\r\nSET\r\n..."), so encode() is two appends of
// bytes that exist (the array header and the body), which the Output joins into one piece.
//
// Thread rule: a value type; one thread at a time, const methods from any thread.
#pragma once

#include <charconv>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "tern/base/small_bytes.h"
#include "tern/protocol/output.h"

namespace tern::redis {

class Command {
 public:
  Command() = default;
  explicit Command(std::string_view name);
  // Each arg: string-like (converts to std::string_view) or integral (written in decimal).
  template <class... Args>
  static Command of(std::string_view name, const Args&... args) {
    Command command(name);
    (command.add(args), ...);
    return command;
  }
  Command& arg(std::string_view bytes);
  Command& arg(int64_t number);
  size_t size() const noexcept;                  // arguments, the name included
  std::string_view operator[](size_t i) const;   // an argument's bytes (i < size(), else abort)
  std::string_view name() const;                 // [0]
  // True for commands that only read (GET, MGET, EXISTS, STRLEN, TTL, PTTL, TYPE, SCAN, KEYS,
  // HGET, HGETALL, HMGET, LRANGE, LLEN, SMEMBERS, SCARD, ZRANGE, ZSCORE, PING, ECHO, INFO,
  // CLUSTER (SLOTS/SHARDS/NODES)... case-insensitive): safe to send again after a lost connection.
  bool read_only() const noexcept;
  // The argument that names the key routed on in a cluster (1 for most commands; none for
  // PING, INFO, CLUSTER, SCAN, MULTI, EXEC, ...): nullopt when keyless. EVAL, EVALSHA, FCALL
  // (and their _RO forms) route on their first key when numkeys > 0; XREAD and XREADGROUP on
  // the first key after STREAMS; OBJECT, MEMORY USAGE on their argument 2.
  std::optional<std::string_view> first_key() const;
  void encode(Output& out) const;                // "*N\r\n$len\r\n...": one piece of the Output
  std::string encoded() const;                   // the same, as a string (tests, fuzz)

 private:
  template <class T>
  void add(const T& value) {
    if constexpr (std::is_same_v<T, bool>) {
      static_assert(!std::is_same_v<T, bool>, "Command::of: say \"1\" or \"0\", not a bool");
    } else if constexpr (std::is_integral_v<T> && std::is_unsigned_v<T> && sizeof(T) >= 8) {
      char digits[24];
      auto [end, error] = std::to_chars(digits, digits + sizeof digits, value);
      arg(std::string_view(digits, size_t(end - digits)));
    } else if constexpr (std::is_integral_v<T>) {
      arg(int64_t(value));
    } else {
      static_assert(std::is_convertible_v<const T&, std::string_view>,
                    "Command::of: each argument is string-like or integral");
      arg(std::string_view(value));
    }
  }
  // The offset in body_ of argument i's "$len" header.
  size_t header_of(size_t i) const;

  // The arguments already encoded as bulk strings; inline up to 56 bytes (GET or SET with a
  // short key and value), so that a copy per call costs no allocation.
  SmallBytes<56> body_;
  uint32_t count_ = 0;
};

}  // namespace tern::redis
