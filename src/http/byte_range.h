// Byte ranges (RFC 9110 14.1, 14.2): what a Range header asks of a representation of a known
// size. One range only; several are answered with the whole representation (allowed: a server
// may ignore Range), as is any header that does not parse.
//
// Thread rule: pure function; any thread.
#pragma once

#include <cstdint>
#include <string_view>

namespace tern::http {

struct RangeRequest {
  enum class Kind : uint8_t {
    whole,          // no usable Range: 200 with everything
    partial,        // 206: bytes [first, first + length)
    unsatisfiable,  // 416 with "Content-Range: bytes */size"
  };
  Kind kind = Kind::whole;
  uint64_t first = 0;
  uint64_t length = 0;
};

// `header` is the Range field's value: "bytes=a-b", "bytes=a-" or "bytes=-n" (the unit
// case-insensitive, whitespace around the range allowed). a-b past the end is cut to the end;
// a suffix longer than the file is the whole file (as 206). Unsatisfiable: a first byte at
// or past the end, a zero-length suffix, or any range of an empty file.
RangeRequest parse_range(std::string_view header, uint64_t size) noexcept;

}  // namespace tern::http
