// RESP values: what a Redis server answers, in RESP2 and RESP3, as a tree of views.
//
// A Value is what RespParser (tern/redis/resp_parser.h) yields: its text views the bytes parsed
// and its elements view the parser's node storage, so nothing is copied; both stay valid until
// the parser is used again (the pipeline's callback is that window). A caller that keeps a
// reply copies what it needs.
//
// Thread rule: plain values and pure functions; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace tern::redis {

enum class Type : uint8_t {
  simple_string, error, integer, bulk_string, array, null,              // RESP2 (null bulk and
                                                                        // null array are null)
  double_, boolean, big_number, bulk_error, verbatim_string, map, set, push,  // RESP3
};
// "simple_string", "error", ... (the enumerator's name without a trailing underscore).
const char* type_name(Type type) noexcept;

// A parsed reply. Views into the bytes parsed (and into the parser's node storage for
// elements): valid until the parser is used again. Attributes (RESP3 '|') are parsed and dropped.
struct Value {
  Type type = Type::null;
  std::string_view text;   // simple_string, error, bulk_string, bulk_error, big_number,
                           // verbatim_string (the content after "txt:"), double_ (as sent)
  int64_t integer = 0;     // integer; boolean 0 or 1
  double number = 0;       // double_
  std::span<const Value> elements;  // array, set, push; map: key, value, key, value, ...
  bool is_error() const noexcept { return type == Type::error || type == Type::bulk_error; }
  bool is_null() const noexcept { return type == Type::null; }
  // A readable rendering for logs and test messages: "OK", "(error) ERR ...", "(integer) 5",
  // "\"bytes\"" (non-printable bytes as \xNN), "[a, b]", "{k: v}", "(nil)", ...
  std::string to_string() const;
};

// The largest values a parser accepts (a hostile or broken server cannot make the client
// allocate without bound).
struct RespLimits {
  size_t max_bulk = 512u << 20;      // bytes of one bulk/verbatim string (redis's own default)
  size_t max_elements = 1u << 20;    // elements of one aggregate (a map of N pairs has 2N)
  size_t max_depth = 32;             // nesting
  size_t max_line = 64u << 10;       // a simple string, error or number line
};

// Why bytes are not RESP (the connection that carried them is out of step: close it).
enum class resp_errc {
  bad_type = 1,       // a value starts with a byte that is no RESP type
  bad_length,         // a length that is not a number, negative (other than the nulls' -1),
                      // streamed ('?'), or a verbatim string without its "xxx:" format
  bad_number,         // an integer, double, big number or boolean that does not parse
  bad_line_end,       // a line or a bulk payload not followed by CR LF (a lone CR or LF)
  too_large,          // a bulk string beyond RespLimits::max_bulk
  too_many_elements,  // an aggregate beyond RespLimits::max_elements
  too_deep,           // aggregates nested beyond RespLimits::max_depth
  line_too_long,      // a line beyond RespLimits::max_line
};
const std::error_category& resp_error_category() noexcept;
std::error_code make_error_code(resp_errc error) noexcept;

}  // namespace tern::redis

template <>
struct std::is_error_code_enum<tern::redis::resp_errc> : std::true_type {};
