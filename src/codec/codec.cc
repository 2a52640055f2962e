#include "tern/codec/codec.h"

#include "tern/base/error.h"
#include "tern/protocol/framing.h"

namespace tern {
namespace {

// Runs `use` with a fresh protocol object of the codec's framing.
template <class Use>
auto with_protocol(Framing framing, const FramingOptions& options, Use&& use) {
  switch (framing) {
    case Framing::raw: {
      RawProtocol protocol(options);
      return use(protocol);
    }
    case Framing::line: {
      LineProtocol protocol(options);
      return use(protocol);
    }
    case Framing::length_prefixed: break;
  }
  LengthPrefixedProtocol protocol(options);
  return use(protocol);
}

}  // namespace

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
  FramingOptions options{max_message_, {}};
  return with_protocol(framing_, options, [&](auto& protocol) -> Result<std::optional<Frame>> {
    auto decoded = protocol.decode(input);
    using Status = decltype(decoded.status);
    if (decoded.status == Status::invalid) return decoded.error;
    if (decoded.status == Status::need_more) return std::optional<Frame>{};
    return std::optional<Frame>{Frame{decoded.request, decoded.consumed}};
  });
}

void Codec::encode(std::string_view message, std::string& out) const {
  FramingOptions options{max_message_, {}};
  Output pieces;
  with_protocol(framing_, options, [&](auto& protocol) {
    return protocol.encode(std::string(message), pieces);
  });
  for (size_t i = 0; i < pieces.piece_count(); ++i) out.append(pieces.piece(i));
}

}  // namespace tern
