#include "tern/codec/codec.h"

#include <cstring>

#include "tern/base/error.h"

namespace tern {

std::optional<Framing> parse_framing(std::string_view name) {
  if (name == "raw") return Framing::raw;
  if (name == "line") return Framing::line;
  if (name == "length") return Framing::length_prefixed;
  return std::nullopt;
}

const char* framing_name(Framing framing) noexcept {
  switch (framing) {
    case Framing::raw: return "raw";
    case Framing::line: return "line";
    case Framing::length_prefixed: return "length";
  }
  return "?";
}

Result<std::optional<Frame>> Codec::decode(std::string_view input) const {
  switch (framing_) {
    case Framing::raw: {
      if (input.empty()) return std::optional<Frame>{};
      size_t n = std::min(input.size(), max_message_);
      return std::optional<Frame>{Frame{input.substr(0, n), n}};
    }
    case Framing::line: {
      size_t end = input.find('\n');
      if (end == std::string_view::npos) {
        if (input.size() > max_message_) return make_error_code(errc::message_too_large);
        return std::optional<Frame>{};
      }
      if (end > max_message_) return make_error_code(errc::message_too_large);
      return std::optional<Frame>{Frame{input.substr(0, end), end + 1}};
    }
    case Framing::length_prefixed: {
      if (input.size() < 4) return std::optional<Frame>{};
      auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(input[i])); };
      size_t length = (byte(0) << 24) | (byte(1) << 16) | (byte(2) << 8) | byte(3);
      if (length > max_message_) return make_error_code(errc::message_too_large);
      if (input.size() - 4 < length) return std::optional<Frame>{};
      return std::optional<Frame>{Frame{input.substr(4, length), 4 + length}};
    }
  }
  return make_error_code(errc::invalid_argument);
}

size_t Codec::header(std::string_view message, char (&out)[4]) const noexcept {
  if (framing_ != Framing::length_prefixed) return 0;
  auto length = static_cast<uint32_t>(message.size());
  out[0] = static_cast<char>(length >> 24);
  out[1] = static_cast<char>(length >> 16);
  out[2] = static_cast<char>(length >> 8);
  out[3] = static_cast<char>(length);
  return 4;
}

std::string_view Codec::trailer() const noexcept {
  return framing_ == Framing::line ? std::string_view("\n", 1) : std::string_view();
}

void Codec::encode(std::string_view message, std::string& out) const {
  char head[4];
  out.append(head, header(message, head));
  out.append(message);
  out.append(trailer());
}

}  // namespace tern
