// http::StaticFiles: a handler that serves the files under one root directory.
//
//   auto files = http::StaticFiles::open({.root = "/srv/www"});
//   if (!files) { ... files.error() ... }
//   router.get("/{*path}", [files = *files](const http::Request& r) { return files.serve(r); });
//
// What it answers (GET and HEAD; any other method: 405 with Allow: GET, HEAD):
//   - the path: percent-decoded and normalised (http::normalize_path), then opened beneath the
//     root with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS): symlinks that stay inside the
//     root are followed, any that leave it (absolute, or by "..") fail. A path that does not
//     decode (a bad escape, an encoded NUL) is 400; one that climbs above the root, holds an
//     encoded '/', does not exist, escapes, or is not a regular file (a FIFO, a device) is 404:
//     nothing tells a client what exists outside the files it may read. Unreadable (EACCES): 403.
//   - a directory: its index file; without the trailing slash, 301 to the path with one (so
//     the index page's relative links resolve); no index file: 404 (no listings).
//   - Content-Type from the extension (mime_types.h), Last-Modified (IMF-fixdate), and a
//     strong ETag "<mtime seconds hex>.<mtime nanoseconds hex>-<size hex>" (nginx's scheme with
//     nanoseconds: a file rewritten within a second still changes it; it is strong because
//     Range and If-Range need a strong validator). The gzip representation has its own:
//     the same built from the .gz file, with "-gz" appended inside the quotes.
//   - If-None-Match (a list of tags or "*", weak comparison) takes precedence over
//     If-Modified-Since (ignored when If-None-Match is present); either gives 304 with ETag,
//     Last-Modified and Vary, no body.
//   - Range on GET (RFC 9110 14): one range, "bytes=a-b", "bytes=a-" or "bytes=-n": 206 with
//     Content-Range; an unsatisfiable one 416 with "Content-Range: bytes */size". Several
//     ranges (multipart/byteranges is not implemented) or a malformed header: 200 with the
//     whole file. If-Range (an entity tag compared strongly, or a date equal to Last-Modified)
//     that does not match: 200 whole. 200s carry Accept-Ranges: bytes. HEAD ignores Range.
//   - precompressed siblings (option gzip_siblings): when "<file>.gz" exists beside the file,
//     is a regular file, and is not older than it, a request whose Accept-Encoding accepts
//     gzip (explicitly or by "*", with q > 0) gets its bytes with Content-Encoding: gzip.
//     Responses for a file with such a sibling carry Vary: Accept-Encoding, compressed or not.
//   - the body is a FileRange of a shared open file, sent by the transport without copying
//     (sendfile); for HEAD it is attached too (the protocol sends its length, not its bytes).
//     Files up to 16 KiB are also read into the cache entry when it is loaded, and a whole-file
//     answer sends those bytes (copied next to the head: one write instead of a write and a
//     sendfile; docs/benchmarks.md has the figures). Their memory is bounded by the cache:
//     at most 16 KiB (32 with a .gz sibling) per entry.
//
// The open-file cache: resolved files (open descriptor, size, mtime, ETag, type, sibling) are
// kept in a bounded LRU map keyed by the normalised path, and re-checked (the path opened and
// stat'ed again) at most once per revalidate_interval, so a file changed on disk is served
// new at most that long after. An evicted or replaced file stays open while a response still
// sends from it. cache_entries = 0 turns the cache off (every request opens its file). Each
// entry holds one or two descriptors (the file and its .gz sibling): size RLIMIT_NOFILE for
// 2 * cache_entries plus the connections. Misses (404s) are not cached: each costs an openat2.
//
// Thread rule: open() on any thread; serve() is const and thread-safe, called concurrently
// from every thread that runs handlers. Copies share one root and one cache.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "tern/base/result.h"
#include "tern/http/request.h"
#include "tern/http/response.h"

namespace tern::http {

class OpenFileCache;

struct StaticFilesOptions {
  std::string root;                   // the directory served; must exist
  std::string mount;                  // the URL path it is served under ("" or "/static")
  std::string index = "index.html";   // the file a directory answers with
  bool gzip_siblings = true;          // serve "<file>.gz" to clients that accept gzip
  size_t cache_entries = 1024;        // the open-file cache's bound; 0: no cache
  std::chrono::steady_clock::duration revalidate_interval = std::chrono::seconds(1);
};

class StaticFiles {
 public:
  // Opens the root directory (kept open: a root renamed later is still the one served).
  // Fails if it is not a directory, or if the index name is not a plain file name. Without
  // openat2 (Linux < 5.6, or under valgrind) no symlink beneath the root is followed.
  static Result<StaticFiles> open(StaticFilesOptions options);

  // The response for `request` (see above). Thread-safe; any thread.
  Response serve(const Request& request) const;

  // Entries in the open-file cache now (for tests and metrics). Any thread.
  size_t cached_files() const;

 private:
  struct State;
  explicit StaticFiles(std::shared_ptr<const State> state) noexcept : state_(std::move(state)) {}
  std::shared_ptr<const State> state_;
};

}  // namespace tern::http
