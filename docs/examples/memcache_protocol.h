// A custom protocol on tern's seam: a subset of memcached's text protocol (get, set, delete,
// quit), enough for a key-value server that `telnet` or any memcached client can talk to.
//
//   set <key> <flags> <exptime> <bytes>\r\n<data>\r\n   -> STORED\r\n
//   get <key>\r\n                                      -> VALUE <key> 0 <bytes>\r\n<data>\r\nEND\r\n
//                                                         or END\r\n
//   delete <key>\r\n                                   -> DELETED\r\n or NOT_FOUND\r\n
//   quit\r\n                                           -> (the connection closes)
//
// The protocol object is one connection's parser state. decode() is incremental: it remembers
// how far it scanned for the end of the command line, and once it has parsed a `set` line it
// waits for the data without parsing the line again. What it keeps between calls are offsets:
// the session may move the input (appending to it) between two calls.
#pragma once

#include <charconv>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "tern/base/error.h"
#include "tern/protocol/protocol.h"

namespace memcache {

struct Request {
  enum class Command { get, set, remove, quit } command = Command::get;
  std::string_view key;
  std::string_view value;  // set
};

struct Owned {  // a Request that owns its bytes, for a worker thread
  Request::Command command;
  std::string key;
  std::string value;
};

struct Response {
  std::string text;    // the whole reply, already in the protocol's form
  bool close = false;  // close the connection after it (quit, errors)
};

class Protocol {
 public:
  using Request = memcache::Request;
  using Owned = memcache::Owned;
  using Response = memcache::Response;
  struct Options {
    size_t max_line = 2048;
    size_t max_value = 1 << 20;
    tern::Deadlines deadlines;
  };

  explicit Protocol(const Options& options) : options_(options) {}

  tern::Decoded<Request> decode(std::string_view input) {
    if (line_end_ == 0) {
      const char* found = static_cast<const char*>(
          std::memchr(input.data() + scanned_, '\n', input.size() - scanned_));
      if (found == nullptr) {
        scanned_ = input.size();
        if (scanned_ > options_.max_line) return bad();
        return tern::Decoded<Request>::more();
      }
      line_end_ = static_cast<size_t>(found - input.data()) + 1;
      scanned_ = 0;
      if (line_end_ < 2 || input[line_end_ - 2] != '\r') return bad();
      if (!parse_line(input.substr(0, line_end_ - 2))) return bad();
      key_offset_ = pending_.key.empty() ? 0 : static_cast<size_t>(pending_.key.data() - input.data());
    }
    // Between calls the input may have moved (more bytes appended): views are rebuilt from
    // offsets, never kept.
    pending_.key = input.substr(key_offset_, pending_.key.size());
    size_t total = line_end_;
    if (pending_.command == Request::Command::set) {
      total += value_size_ + 2;
      if (input.size() < total) return tern::Decoded<Request>::more();
      if (input.substr(total - 2, 2) != "\r\n") return bad();
      pending_.value = input.substr(line_end_, value_size_);
    }
    line_end_ = 0;
    return tern::Decoded<Request>::message(pending_, total);
  }

  tern::After encode(Response&& response, tern::Output& out) const {
    out.append(std::move(response.text));
    return response.close ? tern::After::close : tern::After::keep_open;
  }

  // A malformed command gets memcached's error line, then the connection closes.
  std::optional<Response> on_failure(const tern::Failure& failure) const {
    if (failure.kind != tern::Failure::Kind::malformed) return std::nullopt;
    return Response{"CLIENT_ERROR bad command line format\r\n", true};
  }

  tern::Deadlines deadlines() const { return options_.deadlines; }
  static Owned own(const Request& r) { return {r.command, std::string(r.key), std::string(r.value)}; }
  static Request view(const Owned& o) { return {o.command, o.key, o.value}; }

 private:
  tern::Decoded<Request> bad() {
    scanned_ = line_end_ = 0;
    return tern::Decoded<Request>::invalid(tern::errc::invalid_argument);
  }

  // "<command> <key> [...]": the words of one command line.
  bool parse_line(std::string_view line) {
    auto word = [&line]() {
      size_t start = line.find_first_not_of(' ');
      if (start == std::string_view::npos) return std::string_view();
      line.remove_prefix(start);
      size_t end = std::min(line.find(' '), line.size());
      std::string_view w = line.substr(0, end);
      line.remove_prefix(end);
      return w;
    };
    std::string_view command = word();
    pending_ = Request{};
    if (command == "quit") {
      pending_.command = Request::Command::quit;
      return word().empty();
    }
    pending_.key = word();
    if (pending_.key.empty() || pending_.key.size() > 250) return false;
    if (command == "get") {
      pending_.command = Request::Command::get;
      return word().empty();
    }
    if (command == "delete") {
      pending_.command = Request::Command::remove;
      return word().empty();
    }
    if (command != "set") return false;
    pending_.command = Request::Command::set;
    std::string_view flags = word(), exptime = word(), bytes = word();
    if (flags.empty() || exptime.empty() || bytes.empty() || !word().empty()) return false;
    auto [end, error] = std::from_chars(bytes.data(), bytes.data() + bytes.size(), value_size_);
    return error == std::errc() && end == bytes.data() + bytes.size() &&
           value_size_ <= options_.max_value;
  }

  const Options& options_;
  size_t scanned_ = 0;    // bytes of the command line known to hold no '\n'
  size_t line_end_ = 0;   // a parsed command line's length (with \r\n); 0: none yet
  size_t value_size_ = 0;
  size_t key_offset_ = 0;
  Request pending_;        // its views are valid only within one decode() call
};

static_assert(tern::Protocol<Protocol>);

}  // namespace memcache
