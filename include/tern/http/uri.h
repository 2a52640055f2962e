// Request-target helpers: percent-decoding (RFC 3986 2.1), safe path normalisation and query
// parameters. Strict: a malformed escape, an encoded NUL, or a path that climbs above its root
// is an error, never a best guess.
//
// Thread rule: pure functions; any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tern::http {

// Appends the percent-decoded `in` to `out`. False (out unspecified) on a '%' not followed by
// two hex digits, or on a decoded NUL. `plus_is_space`: for query components.
bool percent_decode(std::string_view in, std::string& out, bool plus_is_space = false);

// The decoded, normalised path of an origin-form path ("/a/./b/../c" -> "/a/c"): '.' and '..'
// segments resolved, repeated slashes merged. nullopt if it does not start with '/', fails to
// decode, holds an encoded '/' (%2F) or NUL, or climbs above "/".
std::optional<std::string> normalize_path(std::string_view raw_path);

// The decoded value of the first `name` parameter of a query ("a=1&b=2"), or nullopt.
std::optional<std::string> query_param(std::string_view query, std::string_view name);

}  // namespace tern::http
