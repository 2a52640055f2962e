#include "tern/protocol/framing.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "tern/base/error.h"

namespace tern {

Decoded<std::string_view> RawProtocol::decode(std::string_view input) const {
  if (input.empty()) return Decoded<Request>::more();
  size_t n = std::min(input.size(), options_.max_message);
  return Decoded<Request>::message(input.substr(0, n), n);
}

After RawProtocol::encode(Response&& response, Output& out) const {
  out.append(std::move(response));
  return After::keep_open;
}

Decoded<std::string_view> LineProtocol::decode(std::string_view input) {
  const char* found = static_cast<const char*>(
      std::memchr(input.data() + scanned_, '\n', input.size() - scanned_));
  if (found == nullptr) {
    scanned_ = input.size();
    if (scanned_ > options_.max_message) return Decoded<Request>::invalid(errc::message_too_large);
    return Decoded<Request>::more();
  }
  size_t end = static_cast<size_t>(found - input.data());
  scanned_ = 0;
  if (end > options_.max_message) return Decoded<Request>::invalid(errc::message_too_large);
  return Decoded<Request>::message(input.substr(0, end), end + 1);
}

After LineProtocol::encode(Response&& response, Output& out) const {
  out.append(std::move(response));
  out.append_static("\n");
  return After::keep_open;
}

Decoded<std::string_view> LengthPrefixedProtocol::decode(std::string_view input) const {
  if (input.size() < kHeader) return Decoded<Request>::more();
  auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(input[i])); };
  size_t length = (byte(0) << 24) | (byte(1) << 16) | (byte(2) << 8) | byte(3);
  if (length > options_.max_message) return Decoded<Request>::invalid(errc::message_too_large);
  if (input.size() - kHeader < length) return Decoded<Request>::more();
  return Decoded<Request>::message(input.substr(kHeader, length), kHeader + length);
}

After LengthPrefixedProtocol::encode(Response&& response, Output& out) const {
  auto length = static_cast<uint32_t>(response.size());
  const char head[kHeader] = {static_cast<char>(length >> 24), static_cast<char>(length >> 16),
                              static_cast<char>(length >> 8), static_cast<char>(length)};
  out.append_copy(std::string_view(head, kHeader));
  out.append(std::move(response));
  return After::keep_open;
}

}  // namespace tern
