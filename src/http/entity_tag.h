// Entity tags and the conditional fields that use them (RFC 9110 8.8.3, 13.1): the ETag a
// static file gets from its size and modification time, If-None-Match and If-Range.
//
// Thread rule: pure functions; any thread.
#pragma once

#include <ctime>
#include <cstdint>
#include <string>
#include <string_view>

namespace tern::http {

// A strong tag: "<mtime seconds hex>.<mtime nanoseconds hex>-<size hex><suffix>", quoted.
std::string make_etag(uint64_t size, timespec mtime, std::string_view suffix = {});

// If-None-Match (RFC 9110 13.1.2): true if `header` ("*" or a list of tags, W/ or not) names
// `etag` by the weak comparison. A malformed list matches nothing after the fault.
bool none_match_matches(std::string_view header, std::string_view etag) noexcept;

// If-Range (RFC 9110 13.1.5): true if the Range may be honoured: `header` is a strong tag equal
// to `etag`, or an HTTP date equal to `modified` (the Last-Modified seconds). A weak tag, or
// anything else, never matches.
bool if_range_holds(std::string_view header, std::string_view etag, std::time_t modified) noexcept;

}  // namespace tern::http
