// Codec: which built-in framing a server speaks (ServerOptions::codec, --codec) and its
// message limit. decode/encode are conveniences over the protocols that implement the
// framings (tern/protocol/framing.h: one implementation of each), for tests and tools.
// A pure value type: no I/O, so it runs on any thread.
//
//   raw             every chunk the socket delivers is one message (echo, proxies)
//   line            messages end with '\n' (a preceding '\r' is kept as part of the message)
//   length_prefixed a 4-byte big-endian length, then that many bytes
//
// A message longer than max_message is an error (errc::message_too_large): the server closes
// that connection instead of buffering without bound.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "tern/base/result.h"

namespace tern {

enum class Framing { raw, line, length_prefixed };

// "raw", "line", "length"; nullopt for anything else.
std::optional<Framing> parse_framing(std::string_view name);
const char* framing_name(Framing framing) noexcept;

struct Frame {
  std::string_view message;  // a view into the input
  size_t consumed = 0;       // bytes of input the frame used, framing included
};

class Codec {
 public:
  static constexpr size_t kDefaultMaxMessage = 1 << 20;

  explicit Codec(Framing framing = Framing::raw, size_t max_message = kDefaultMaxMessage)
      : framing_(framing), max_message_(max_message) {}

  // The first whole message at the start of `input`; nullopt when more bytes are needed.
  Result<std::optional<Frame>> decode(std::string_view input) const;
  // Appends `message` with its framing to `out`.
  void encode(std::string_view message, std::string& out) const;
  std::string encode_to_string(std::string_view message) const {
    std::string out;
    encode(message, out);
    return out;
  }

  Framing framing() const noexcept { return framing_; }
  size_t max_message() const noexcept { return max_message_; }

 private:
  Framing framing_;
  size_t max_message_;
};

}  // namespace tern
