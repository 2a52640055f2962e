// http::StaticFiles: a request's path to a file beneath the root (RootDirectory), the file's
// facts kept in the OpenFileCache, then the conditional and range fields decide the answer.
#include "tern/http/static_files.h"

#include <unistd.h>

#include <cerrno>
#include <optional>
#include <utility>

#include "http/byte_range.h"
#include "http/content_coding.h"
#include "http/entity_tag.h"
#include "http/open_file_cache.h"
#include "http/root_directory.h"
#include "tern/base/error.h"
#include "tern/http/date.h"
#include "tern/http/mime_types.h"
#include "tern/http/status.h"
#include "tern/http/uri.h"

namespace tern::http {

struct StaticFiles::State {
  StaticFilesOptions options;
  RootDirectory root;
  std::unique_ptr<OpenFileCache> cache;  // null: cache_entries == 0
};

namespace {

using Entry = std::shared_ptr<const CachedFile>;

Response status_response(int status) {
  return Response::text(status, std::string(reason_phrase(status)) + "\n");
}

// What an error opening a path means to the client. Anything that says "no such file here"
// (including an escape from the root, EXDEV, and a symlink loop) is 404.
int status_of_open_error(std::error_code error) noexcept {
  if (error.category() != std::system_category()) return 500;
  switch (error.value()) {
    case ENOENT: case ENOTDIR: case EXDEV: case ELOOP: case ENAMETOOLONG: case EINVAL:
      return 404;
    case EACCES: case EPERM:
      return 403;
    case EMFILE: case ENFILE: case ENOMEM:
      return 503;
    default:
      return 500;
  }
}

bool is_gone(std::error_code error) noexcept { return status_of_open_error(error) == 404; }

bool not_older(timespec a, timespec b) noexcept {
  return a.tv_sec != b.tv_sec ? a.tv_sec > b.tv_sec : a.tv_nsec >= b.tv_nsec;
}

// Files up to this size are also kept in memory: sending one from there costs a copy into the
// response's write; sending it with sendfile costs a system call more per response.
constexpr uint64_t kInMemoryUpTo = 16 * 1024;

// The whole file, or null if it is larger than kInMemoryUpTo or its read comes up short (it
// changed meanwhile: the next revalidation picks it up; until then it is sent from the file).
std::shared_ptr<const std::string> read_small(const File& file, uint64_t size) {
  if (size == 0 || size > kInMemoryUpTo) return nullptr;
  std::string bytes(size, '\0');
  size_t got = 0;
  while (got < size) {
    ssize_t n = ::pread(file.fd(), bytes.data() + got, size - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return nullptr;
    got += static_cast<size_t>(n);
  }
  return std::make_shared<const std::string>(std::move(bytes));
}

Representation representation_of(OpenedPath& opened, std::string_view etag_suffix) {
  auto file = std::make_shared<const File>(std::move(opened.file));
  auto bytes = read_small(*file, opened.stat.size);
  return Representation{std::move(file), opened.stat.size,
                        make_etag(opened.stat.size, opened.stat.mtime, etag_suffix),
                        std::move(bytes)};
}

// "<relative>.gz" if it is a regular file no older than the file it compresses.
std::optional<Representation> load_sibling(const RootDirectory& root, const std::string& relative,
                                           timespec plain_mtime) {
  auto opened = root.open_beneath(relative + ".gz");
  if (!opened || !opened->stat.regular || !not_older(opened->stat.mtime, plain_mtime)) {
    return std::nullopt;
  }
  return representation_of(*opened, "-gz");
}

// Opens and describes the file `key` names: a normalised path, with a trailing '/' when the
// index of a directory is wanted.
Result<Entry> load(const StaticFilesOptions& options, const RootDirectory& root,
                   const std::string& key) {
  bool wants_index = key.ends_with('/');
  std::string relative = key.substr(1);
  if (wants_index) relative += options.index;
  auto opened = root.open_beneath(relative);
  if (!opened) return opened.error();
  auto entry = std::make_shared<CachedFile>();
  if (opened->stat.directory && !wants_index) {
    entry->directory = true;
    return Entry(std::move(entry));
  }
  // Not a regular file (a FIFO, a device, a directory named like the index): as if absent.
  if (!opened->stat.regular) return system_error(ENOENT);
  timespec mtime = opened->stat.mtime;
  entry->plain = representation_of(*opened, {});
  entry->modified = mtime.tv_sec;
  entry->last_modified = format_http_date(mtime.tv_sec);
  entry->content_type = mime_type_for(relative);
  if (options.gzip_siblings) entry->gzip = load_sibling(root, relative, mtime);
  return Entry(std::move(entry));
}

// The cached entry, loaded again when absent or due for its check. A check that fails for a
// passing reason (out of descriptors) keeps serving what was cached.
Result<Entry> find_or_load(const StaticFilesOptions& options, const RootDirectory& root,
                           OpenFileCache* cache, const std::string& key) {
  if (cache == nullptr) return load(options, root, key);
  auto now = OpenFileCache::Clock::now();
  OpenFileCache::Found found = cache->find(key, now);
  if (!found.check) return found.entry;
  Result<Entry> loaded = load(options, root, key);
  if (!loaded) {
    if (found.entry == nullptr) return loaded;
    if (!is_gone(loaded.error())) return found.entry;
    cache->erase(key);
    return loaded;
  }
  cache->put(key, *loaded, now);
  return loaded;
}

// RFC 3986 pchar and '/': what a Location path may hold unescaped.
bool is_path_char(unsigned char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("-._~!$&'()*+,;=:@/").find(static_cast<char>(c)) !=
         std::string_view::npos;
}

void append_percent_encoded(std::string& out, std::string_view decoded) {
  constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : decoded) {
    auto u = static_cast<unsigned char>(c);
    if (is_path_char(u)) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xf]);
    }
  }
}

// 301 to the directory's path with its slash. Built from the normalised path, re-encoded (not
// from the raw target): "//evil.example/x" must never become a Location.
Response redirect_to_directory(const StaticFilesOptions& options, std::string_view path,
                               std::string_view query) {
  std::string location = options.mount;
  append_percent_encoded(location, path);
  location.push_back('/');
  if (!query.empty()) {
    location.push_back('?');
    location.append(query);
  }
  Response response = status_response(301);
  response.header("Location", location);
  return response;
}

bool not_modified(const Request& request, const CachedFile& file, std::string_view etag) {
  if (auto none_match = request.header("if-none-match")) {
    return none_match_matches(*none_match, etag);
  }
  if (auto since = request.header("if-modified-since")) {
    std::optional<std::time_t> date = parse_http_date(*since);
    return date.has_value() && file.modified <= *date;
  }
  return false;
}

RangeRequest range_of(const Request& request, const CachedFile& file, const Representation& rep) {
  if (request.method != Method::get) return {};
  auto range = request.header("range");
  if (!range) return {};
  if (auto if_range = request.header("if-range")) {
    if (!if_range_holds(*if_range, rep.etag, file.modified)) return {};
  }
  return parse_range(*range, rep.size);
}

// The validators and the Vary every answer about this file carries.
void add_validators(Response& response, const CachedFile& file, const Representation& rep) {
  response.header("ETag", rep.etag);
  response.header("Last-Modified", file.last_modified);
  if (file.gzip) response.header("Vary", "Accept-Encoding");
}

std::string content_range(uint64_t first, uint64_t length, uint64_t size) {
  return "bytes " + std::to_string(first) + "-" + std::to_string(first + length - 1) + "/" +
         std::to_string(size);
}

Response file_response(const Request& request, const CachedFile& file) {
  bool gzip = file.gzip && accepts_coding(request.header("accept-encoding").value_or(""), "gzip");
  const Representation& rep = gzip ? *file.gzip : file.plain;
  if (not_modified(request, file, rep.etag)) {
    Response response(304);
    add_validators(response, file, rep);
    return response;
  }
  RangeRequest range = range_of(request, file, rep);
  if (range.kind == RangeRequest::Kind::unsatisfiable) {
    Response response(416);
    response.header("Content-Range", "bytes */" + std::to_string(rep.size));
    if (file.gzip) response.header("Vary", "Accept-Encoding");
    return response;
  }
  bool partial = range.kind == RangeRequest::Kind::partial;
  Response response(partial ? 206 : 200);
  response.content_type(file.content_type);
  if (gzip) response.header("Content-Encoding", "gzip");
  add_validators(response, file, rep);
  if (partial) {
    response.header("Content-Range", content_range(range.first, range.length, rep.size));
    response.file(FileRange{rep.file, range.first, range.length});
  } else {
    response.header("Accept-Ranges", "bytes");
    if (rep.bytes) {
      response.body_shared(rep.bytes);
    } else {
      response.file(FileRange{rep.file, 0, rep.size});
    }
  }
  return response;
}

// The part of the request's path beneath the mount point, or nullopt if it is elsewhere.
std::optional<std::string_view> path_beneath_mount(std::string_view mount, std::string_view path) {
  if (!path.starts_with(mount)) return std::nullopt;
  std::string_view rest = path.substr(mount.size());
  if (!rest.empty() && rest.front() != '/') return std::nullopt;  // "/staticx" is not "/static"
  return rest;
}

}  // namespace

Result<StaticFiles> StaticFiles::open(StaticFilesOptions options) {
  // The index is one file name: no '/', not "." or "..".
  const std::string& index = options.index;
  if (index.empty() || index == "." || index == ".." ||
      index.find_first_of(std::string_view("/\0", 2)) != std::string::npos) {
    return make_error_code(errc::invalid_argument);
  }
  // The mount is "" or "/name...", without a trailing slash.
  if (!options.mount.empty() && (options.mount.front() != '/' || options.mount.back() == '/')) {
    return make_error_code(errc::invalid_argument);
  }
  auto root = RootDirectory::open(options.root);
  if (!root) return root.error();
  std::unique_ptr<OpenFileCache> cache;
  if (options.cache_entries > 0) {
    cache = std::make_unique<OpenFileCache>(options.cache_entries, options.revalidate_interval);
  }
  auto state = std::make_shared<State>(State{std::move(options), std::move(*root), std::move(cache)});
  return StaticFiles(std::move(state));
}

Response StaticFiles::serve(const Request& request) const {
  if (request.method != Method::get && request.method != Method::head) {
    Response response = status_response(405);
    response.header("Allow", "GET, HEAD");
    return response;
  }
  const StaticFilesOptions& options = state_->options;
  std::optional<std::string_view> raw = path_beneath_mount(options.mount, request.path);
  if (!raw) return status_response(404);
  if (raw->empty()) {
    if (options.mount.empty()) return status_response(404);  // not an origin-form path
    return redirect_to_directory(options, "", request.query);  // "/static" -> "/static/"
  }
  std::optional<std::string> normalized = normalize_path(*raw);
  if (!normalized) {
    // Undecodable (a bad escape, an encoded NUL) is the client's syntax error; a path that
    // decodes but climbs or hides a '/' is simply not here.
    std::string scratch;
    return status_response(percent_decode(*raw, scratch) ? 404 : 400);
  }
  std::string key = std::move(*normalized);
  if (raw->ends_with('/') && !key.ends_with('/')) key.push_back('/');
  Result<Entry> entry = find_or_load(options, state_->root, state_->cache.get(), key);
  if (!entry) return status_response(status_of_open_error(entry.error()));
  const CachedFile& file = **entry;
  if (file.directory) return redirect_to_directory(options, key, request.query);
  return file_response(request, file);
}

size_t StaticFiles::cached_files() const {
  return state_->cache ? state_->cache->size() : 0;
}

}  // namespace tern::http
