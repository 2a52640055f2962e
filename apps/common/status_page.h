// The status page of every tern program: one self-contained HTML document (its script inline,
// nothing fetched but metrics.json next to it) that the --admin listener serves at GET /status
// with Content-Type text/html; charset=utf-8. The page polls metrics.json every second and draws
// requests per second, p50/p99 latency, per-loop busy %, queue depths and, for tern-proxy, the
// upstreams (docs/status.md).
//
// The text is apps/common/status_page.html, compiled in: CMake writes it into a generated .cc
// (cmake/embed_text.cmake) whenever the file changes, so the page is edited as HTML and the
// programs need no file at run time.
//
// Thread rule: immutable static data; any thread.
#pragma once

#include <string_view>

namespace tern::apps {

// The whole HTML document, UTF-8.
extern const std::string_view kStatusPage;

}  // namespace tern::apps
