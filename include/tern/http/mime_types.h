// MIME types for static files, from the file name's extension: a compact table of the types a
// web root holds (pages, styles, scripts, images, fonts, media, archives). Text types carry
// "; charset=utf-8". Anything else is application/octet-stream, which a browser downloads
// instead of guessing (no sniffing of the bytes).
//
// Thread rule: pure function over a constant table; any thread.
#pragma once

#include <string_view>

namespace tern::http {

inline constexpr std::string_view kDefaultMimeType = "application/octet-stream";

// The type of `path` ("/css/site.css" -> "text/css; charset=utf-8") from the extension of its
// last segment, compared case-insensitively. A name without an extension, or with only a
// leading dot (".profile"), is kDefaultMimeType. The view is a constant.
std::string_view mime_type_for(std::string_view path) noexcept;

}  // namespace tern::http
