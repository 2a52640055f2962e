// Content negotiation for codings (RFC 9110 12.5.3): does an Accept-Encoding value accept a
// coding? A coding listed by name decides by its own weight; otherwise "*" decides; otherwise
// no. A weight of q=0 (0, 0.0, 0.000) means "not acceptable". "x-gzip" counts as "gzip".
//
// Thread rule: pure function; any thread.
#pragma once

#include <string_view>

namespace tern::http {

bool accepts_coding(std::string_view accept_encoding, std::string_view coding) noexcept;

}  // namespace tern::http
