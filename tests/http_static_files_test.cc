// http::StaticFiles against a temporary directory: path safety, directories, MIME types,
// validators and 304, ranges, gzip siblings, and the open-file cache. Requests are built by
// hand (no server): the answers are checked field by field and the file ranges read back.
#include "tern/http/static_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "http/byte_range.h"
#include "http/content_coding.h"
#include "http/entity_tag.h"
#include "tern/http/date.h"
#include "tern/http/message.h"
#include "tern/http/mime_types.h"

namespace tern::http {
namespace {

namespace fs = std::filesystem;

// A request and the header fields its views point into.
struct TestRequest {
  std::string target;
  std::vector<Header> fields;
  Request request;
};

TestRequest make_request(Method method, std::string target, std::vector<Header> fields = {}) {
  TestRequest out{std::move(target), std::move(fields), {}};
  out.request.method = method;
  out.request.target = out.target;
  std::string_view view = out.target;
  size_t question = view.find('?');
  out.request.path = view.substr(0, question);
  if (question != std::string_view::npos) out.request.query = view.substr(question + 1);
  out.request.headers = Headers(out.fields);
  return out;
}

// The value of the response field `name` (case-insensitive), from Response::fields() and its
// constant Content-Type line.
std::optional<std::string> field(const Response& response, std::string_view name) {
  std::string lines = std::string(response.content_type_line()) + std::string(response.fields());
  std::string_view rest = lines;
  while (!rest.empty()) {
    size_t end = rest.find("\r\n");
    std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 2);
    size_t colon = line.find(": ");
    if (colon != std::string_view::npos && iequals(line.substr(0, colon), name)) {
      return std::string(line.substr(colon + 2));
    }
  }
  return std::nullopt;
}

// The bytes a file-bodied response would send, read with pread (or, for a small file kept
// in memory, the cache's copy).
std::string file_bytes(Response response) {
  if (response.body_kind() == Response::BodyKind::shared) {
    return std::string(response.constant_body());
  }
  if (response.body_kind() != Response::BodyKind::file) return "<not a file body>";
  FileRange& range = response.file_body();
  std::string bytes(range.length, '\0');
  ssize_t n = ::pread(range.file->fd(), bytes.data(), bytes.size(),
                      static_cast<off_t>(range.offset));
  if (n < 0 || static_cast<size_t>(n) != bytes.size()) return "<short read>";
  return bytes;
}

void write_file(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

void set_mtime(const fs::path& path, std::time_t seconds) {
  timespec times[2] = {{seconds, 0}, {seconds, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
}

std::string pattern(size_t size) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>('a' + (i * 7 + i / 26) % 26);
  return bytes;
}

constexpr std::time_t kMtime = 1700000000;  // Tue, 14 Nov 2023 22:13:20 GMT

class StaticFilesTest : public testing::Test {
 protected:
  void SetUp() override {
    char name[] = "/tmp/tern-static-XXXXXX";
    ASSERT_NE(::mkdtemp(name), nullptr);
    top_ = name;
    root_ = top_ / "root";
    fs::create_directories(root_ / "sub");
    fs::create_directories(root_ / "emptydir");
    write_file(top_ / "outside.txt", "secret outside the root\n");
    write_file(root_ / "index.html", "<h1>home</h1>\n");
    write_file(root_ / "sub" / "index.html", "<h1>sub</h1>\n");
    write_file(root_ / "four.bin", pattern(4096));
    write_file(root_ / "app.js", "console.log('plain');\n");
    write_file(root_ / "app.js.gz", "GZIPPED-BYTES");
    write_file(root_ / "old.css", "body{}\n");
    write_file(root_ / "old.css.gz", "STALE-GZ");
    set_mtime(root_ / "four.bin", kMtime);
    set_mtime(root_ / "app.js", kMtime);
    set_mtime(root_ / "app.js.gz", kMtime + 5);
    set_mtime(root_ / "old.css", kMtime);
    set_mtime(root_ / "old.css.gz", kMtime - 100);  // older than its file: not used
    fs::create_symlink("four.bin", root_ / "link_in");
    fs::create_symlink("/etc/passwd", root_ / "link_passwd");
    fs::create_symlink("../outside.txt", root_ / "link_out");
    fs::create_symlink(top_, root_ / "link_top");
    ASSERT_EQ(::mkfifo((root_ / "fifo").c_str(), 0600), 0);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(top_, ignored);
  }

  StaticFiles open_files(StaticFilesOptions options = {}) {
    options.root = root_.string();
    auto files = StaticFiles::open(std::move(options));
    EXPECT_TRUE(files.ok()) << files.error().message();
    return std::move(files).value();
  }

  Response get(const StaticFiles& files, std::string target, std::vector<Header> fields = {}) {
    TestRequest request = make_request(Method::get, std::move(target), std::move(fields));
    return files.serve(request.request);
  }

  fs::path top_;
  fs::path root_;
};

TEST_F(StaticFilesTest, PlainGetSendsTheFileWithItsFields) {
  StaticFiles files = open_files();
  Response response = get(files, "/four.bin");
  EXPECT_EQ(response.status_code(), 200);
  EXPECT_EQ(field(response, "Content-Type"), "application/octet-stream");
  EXPECT_EQ(field(response, "Accept-Ranges"), "bytes");
  EXPECT_EQ(field(response, "Last-Modified"), "Tue, 14 Nov 2023 22:13:20 GMT");
  EXPECT_EQ(field(response, "ETag"), make_etag(4096, timespec{kMtime, 0}));
  EXPECT_EQ(field(response, "Vary"), std::nullopt);
  EXPECT_EQ(field(response, "Content-Encoding"), std::nullopt);
  EXPECT_EQ(response.body_size(), 4096u);
  EXPECT_EQ(file_bytes(response), pattern(4096));
}

// Small files are answered from the cache's copy (one write with the head, no sendfile); a
// larger one, or a range of a small one, is sent from the file.
TEST_F(StaticFilesTest, SmallFilesComeFromMemoryLargerOnesFromTheFile) {
  write_file(root_ / "large.bin", pattern(64 * 1024));
  StaticFiles files = open_files();
  Response small = get(files, "/four.bin");
  EXPECT_EQ(small.body_kind(), Response::BodyKind::shared);
  EXPECT_EQ(file_bytes(small), pattern(4096));
  Response large = get(files, "/large.bin");
  EXPECT_EQ(large.body_kind(), Response::BodyKind::file);
  EXPECT_EQ(file_bytes(large), pattern(64 * 1024));
  TestRequest range = make_request(Method::get, "/four.bin", {{"Range", "bytes=0-9"}});
  Response part = files.serve(range.request);
  EXPECT_EQ(part.body_kind(), Response::BodyKind::file);
  EXPECT_EQ(file_bytes(part), pattern(4096).substr(0, 10));
}

TEST_F(StaticFilesTest, HeadAnswersTheFieldsOfGetWithTheFileAttachedForItsLength) {
  StaticFiles files = open_files();
  TestRequest head = make_request(Method::head, "/four.bin", {{"Range", "bytes=0-9"}});
  Response response = files.serve(head.request);
  EXPECT_EQ(response.status_code(), 200);  // Range is defined for GET only
  EXPECT_EQ(field(response, "Content-Type"), "application/octet-stream");
  EXPECT_TRUE(field(response, "ETag").has_value());
  EXPECT_EQ(response.body_size(), 4096u);
}

TEST_F(StaticFilesTest, OtherMethodsAre405WithAllow) {
  StaticFiles files = open_files();
  TestRequest post = make_request(Method::post, "/four.bin");
  Response response = files.serve(post.request);
  EXPECT_EQ(response.status_code(), 405);
  EXPECT_EQ(field(response, "Allow"), "GET, HEAD");
}

TEST_F(StaticFilesTest, DirectoriesServeTheirIndex) {
  StaticFiles files = open_files();
  Response root = get(files, "/");
  EXPECT_EQ(root.status_code(), 200);
  EXPECT_EQ(field(root, "Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(file_bytes(root), "<h1>home</h1>\n");
  Response sub = get(files, "/sub/");
  EXPECT_EQ(sub.status_code(), 200);
  EXPECT_EQ(file_bytes(sub), "<h1>sub</h1>\n");
  EXPECT_EQ(get(files, "/emptydir/").status_code(), 404);  // no index, no listing
  EXPECT_EQ(get(files, "/four.bin/").status_code(), 404);  // a file is not a directory
}

TEST_F(StaticFilesTest, DirectoryWithoutSlashRedirectsToTheNormalisedPathWithOne) {
  StaticFiles files = open_files();
  Response plain = get(files, "/sub");
  EXPECT_EQ(plain.status_code(), 301);
  EXPECT_EQ(field(plain, "Location"), "/sub/");
  EXPECT_EQ(field(get(files, "/sub?x=1&y"), "Location"), "/sub/?x=1&y");
  // Built from the normalised path: never a scheme-relative "//host" Location.
  EXPECT_EQ(field(get(files, "//sub"), "Location"), "/sub/");
  EXPECT_EQ(field(get(files, "/emptydir"), "Location"), "/emptydir/");
}

TEST_F(StaticFilesTest, TraversalIsRefusedInEveryForm) {
  StaticFiles files = open_files();
  EXPECT_EQ(get(files, "/../outside.txt").status_code(), 404);
  EXPECT_EQ(get(files, "/sub/../../outside.txt").status_code(), 404);
  EXPECT_EQ(get(files, "/%2e%2e/outside.txt").status_code(), 404);
  EXPECT_EQ(get(files, "/%2E%2E%2Foutside.txt").status_code(), 404);
  EXPECT_EQ(get(files, "/sub/%2f..").status_code(), 404);
  EXPECT_EQ(get(files, "/..%5coutside.txt").status_code(), 404);
  EXPECT_EQ(get(files, "/link_out").status_code(), 404);      // ../outside.txt
  EXPECT_EQ(get(files, "/link_passwd").status_code(), 404);   // absolute, out
  EXPECT_EQ(get(files, "/link_top/outside.txt").status_code(), 404);
  EXPECT_EQ(get(files, "/%00").status_code(), 400);           // undecodable: encoded NUL
  EXPECT_EQ(get(files, "/four.bin%00.html").status_code(), 400);
  EXPECT_EQ(get(files, "/%zz").status_code(), 400);           // a bad escape
  EXPECT_EQ(get(files, "/missing.txt").status_code(), 404);
}

TEST_F(StaticFilesTest, SymlinkInsideTheRootIsFollowed) {
  StaticFiles files = open_files();
  Response response = get(files, "/link_in");
  EXPECT_EQ(response.status_code(), 200);
  EXPECT_EQ(file_bytes(response), pattern(4096));
}

TEST_F(StaticFilesTest, AFifoIs404WithoutBlocking) {
  StaticFiles files = open_files();
  EXPECT_EQ(get(files, "/fifo").status_code(), 404);
}

TEST_F(StaticFilesTest, NotModifiedByEntityTag) {
  StaticFiles files = open_files();
  std::string etag = *field(get(files, "/four.bin"), "ETag");
  Response same = get(files, "/four.bin", {{"If-None-Match", etag}});
  EXPECT_EQ(same.status_code(), 304);
  EXPECT_EQ(same.body_size(), 0u);
  EXPECT_EQ(field(same, "ETag"), etag);
  EXPECT_EQ(field(same, "Last-Modified"), "Tue, 14 Nov 2023 22:13:20 GMT");
  std::string list = "\"other\", " + etag;
  EXPECT_EQ(get(files, "/four.bin", {{"If-None-Match", list}}).status_code(), 304);
  std::string weak = "W/" + etag;
  EXPECT_EQ(get(files, "/four.bin", {{"If-None-Match", weak}}).status_code(), 304);
  EXPECT_EQ(get(files, "/four.bin", {{"If-None-Match", "*"}}).status_code(), 304);
  EXPECT_EQ(get(files, "/four.bin", {{"If-None-Match", "\"other\""}}).status_code(), 200);
  // If-None-Match takes precedence: a date that alone would give 304 is ignored.
  Response precedence = get(files, "/four.bin", {{"If-None-Match", "\"other\""},
                                                 {"If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT"}});
  EXPECT_EQ(precedence.status_code(), 200);
}

TEST_F(StaticFilesTest, NotModifiedByDate) {
  StaticFiles files = open_files();
  EXPECT_EQ(get(files, "/four.bin", {{"If-Modified-Since", "Tue, 14 Nov 2023 22:13:20 GMT"}})
                .status_code(),
            304);
  EXPECT_EQ(get(files, "/four.bin", {{"If-Modified-Since", "Tue, 14 Nov 2023 22:13:19 GMT"}})
                .status_code(),
            200);
  EXPECT_EQ(get(files, "/four.bin", {{"If-Modified-Since", "not a date"}}).status_code(), 200);
}

TEST_F(StaticFilesTest, RangeInItsThreeForms) {
  StaticFiles files = open_files();
  const std::string whole = pattern(4096);
  Response first = get(files, "/four.bin", {{"Range", "bytes=0-99"}});
  EXPECT_EQ(first.status_code(), 206);
  EXPECT_EQ(field(first, "Content-Range"), "bytes 0-99/4096");
  EXPECT_EQ(file_bytes(first), whole.substr(0, 100));
  Response from = get(files, "/four.bin", {{"Range", "bytes=4000-"}});
  EXPECT_EQ(from.status_code(), 206);
  EXPECT_EQ(field(from, "Content-Range"), "bytes 4000-4095/4096");
  EXPECT_EQ(file_bytes(from), whole.substr(4000));
  Response suffix = get(files, "/four.bin", {{"Range", "bytes=-100"}});
  EXPECT_EQ(suffix.status_code(), 206);
  EXPECT_EQ(field(suffix, "Content-Range"), "bytes 3996-4095/4096");
  EXPECT_EQ(file_bytes(suffix), whole.substr(3996));
  Response clamped = get(files, "/four.bin", {{"Range", "bytes=4090-999999"}});
  EXPECT_EQ(field(clamped, "Content-Range"), "bytes 4090-4095/4096");
  EXPECT_EQ(file_bytes(clamped), whole.substr(4090));
}

TEST_F(StaticFilesTest, UnsatisfiableRangeIs416WithTheSize) {
  StaticFiles files = open_files();
  Response past = get(files, "/four.bin", {{"Range", "bytes=4096-"}});
  EXPECT_EQ(past.status_code(), 416);
  EXPECT_EQ(field(past, "Content-Range"), "bytes */4096");
  EXPECT_EQ(get(files, "/four.bin", {{"Range", "bytes=-0"}}).status_code(), 416);
}

TEST_F(StaticFilesTest, SeveralOrMalformedRangesGetTheWholeFile) {
  StaticFiles files = open_files();
  Response several = get(files, "/four.bin", {{"Range", "bytes=0-1,5-6"}});
  EXPECT_EQ(several.status_code(), 200);
  EXPECT_EQ(several.body_size(), 4096u);
  EXPECT_EQ(get(files, "/four.bin", {{"Range", "bytes=x-y"}}).status_code(), 200);
  EXPECT_EQ(get(files, "/four.bin", {{"Range", "items=0-1"}}).status_code(), 200);
  EXPECT_EQ(get(files, "/four.bin", {{"Range", "bytes=9-3"}}).status_code(), 200);
}

TEST_F(StaticFilesTest, IfRangeHonoursTheRangeOnlyWhenTheValidatorMatches) {
  StaticFiles files = open_files();
  std::string etag = *field(get(files, "/four.bin"), "ETag");
  Header range{"Range", "bytes=0-9"};
  EXPECT_EQ(get(files, "/four.bin", {range, {"If-Range", etag}}).status_code(), 206);
  EXPECT_EQ(get(files, "/four.bin", {range, {"If-Range", "\"nope\""}}).status_code(), 200);
  std::string weak = "W/" + etag;
  EXPECT_EQ(get(files, "/four.bin", {range, {"If-Range", weak}}).status_code(), 200);
  EXPECT_EQ(get(files, "/four.bin", {range, {"If-Range", "Tue, 14 Nov 2023 22:13:20 GMT"}})
                .status_code(),
            206);
  EXPECT_EQ(get(files, "/four.bin", {range, {"If-Range", "Tue, 14 Nov 2023 22:13:21 GMT"}})
                .status_code(),
            200);
}

TEST_F(StaticFilesTest, GzipSiblingForClientsThatAcceptGzip) {
  StaticFiles files = open_files();
  Response gzip = get(files, "/app.js", {{"Accept-Encoding", "deflate, gzip"}});
  EXPECT_EQ(gzip.status_code(), 200);
  EXPECT_EQ(field(gzip, "Content-Encoding"), "gzip");
  EXPECT_EQ(field(gzip, "Vary"), "Accept-Encoding");
  EXPECT_EQ(field(gzip, "Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(field(gzip, "ETag"), make_etag(13, timespec{kMtime + 5, 0}, "-gz"));
  EXPECT_EQ(file_bytes(gzip), "GZIPPED-BYTES");
  // A conditional request on the gzip representation compares its own tag.
  std::string gz_tag = *field(gzip, "ETag");
  EXPECT_EQ(get(files, "/app.js", {{"Accept-Encoding", "gzip"}, {"If-None-Match", gz_tag}})
                .status_code(),
            304);
  EXPECT_EQ(get(files, "/app.js", {{"If-None-Match", gz_tag}}).status_code(), 200);
  EXPECT_EQ(field(get(files, "/app.js", {{"Accept-Encoding", "*"}}), "Content-Encoding"), "gzip");
}

TEST_F(StaticFilesTest, GzipSiblingNotChosen) {
  StaticFiles files = open_files();
  for (std::vector<Header> fields :
       {std::vector<Header>{}, std::vector<Header>{{"Accept-Encoding", "gzip;q=0"}},
        std::vector<Header>{{"Accept-Encoding", "br, *;q=0"}},
        std::vector<Header>{{"Accept-Encoding", "gzip; q=0.000, *"}}}) {
    Response plain = get(files, "/app.js", fields);
    EXPECT_EQ(plain.status_code(), 200);
    EXPECT_EQ(field(plain, "Content-Encoding"), std::nullopt);
    EXPECT_EQ(field(plain, "Vary"), "Accept-Encoding");  // the sibling exists
    EXPECT_EQ(file_bytes(plain), "console.log('plain');\n");
  }
  Response stale = get(files, "/old.css", {{"Accept-Encoding", "gzip"}});
  EXPECT_EQ(field(stale, "Content-Encoding"), std::nullopt);
  EXPECT_EQ(field(stale, "Vary"), std::nullopt);
  EXPECT_EQ(file_bytes(stale), "body{}\n");
  StaticFilesOptions off;
  off.gzip_siblings = false;
  StaticFiles without = open_files(off);
  EXPECT_EQ(field(get(without, "/app.js", {{"Accept-Encoding", "gzip"}}), "Content-Encoding"),
            std::nullopt);
}

TEST_F(StaticFilesTest, ChangedFileIsSeenAfterTheRevalidationInterval) {
  StaticFilesOptions options;
  options.revalidate_interval = std::chrono::seconds(0);
  StaticFiles files = open_files(options);
  write_file(root_ / "change.txt", "short");
  Response before = get(files, "/change.txt");
  EXPECT_EQ(before.body_size(), 5u);
  write_file(root_ / "change.txt", "much longer now");
  Response after = get(files, "/change.txt");
  EXPECT_EQ(after.body_size(), 15u);
  EXPECT_EQ(file_bytes(after), "much longer now");
  EXPECT_NE(field(before, "ETag"), field(after, "ETag"));
  fs::remove(root_ / "change.txt");
  EXPECT_EQ(get(files, "/change.txt").status_code(), 404);
  EXPECT_EQ(files.cached_files(), 0u);
}

TEST_F(StaticFilesTest, FileIsServedFromTheCacheWithinTheInterval) {
  StaticFilesOptions options;
  options.revalidate_interval = std::chrono::hours(1);
  StaticFiles files = open_files(options);
  write_file(root_ / "change.txt", "short");
  EXPECT_EQ(get(files, "/change.txt").body_size(), 5u);
  // Replaced by a rename (as deployments do): the cache still holds the first file, open.
  write_file(root_ / "next.txt", "much longer now");
  fs::rename(root_ / "next.txt", root_ / "change.txt");
  Response cached = get(files, "/change.txt");
  EXPECT_EQ(cached.body_size(), 5u);
  EXPECT_EQ(file_bytes(cached), "short");
  EXPECT_EQ(files.cached_files(), 1u);
}

TEST_F(StaticFilesTest, EvictedFileStaysOpenWhileAResponseSendsFromIt) {
  StaticFilesOptions options;
  options.cache_entries = 1;
  StaticFiles files = open_files(options);
  Response first = get(files, "/four.bin");
  Response second = get(files, "/index.html");  // evicts four.bin
  EXPECT_EQ(files.cached_files(), 1u);
  EXPECT_EQ(file_bytes(first), pattern(4096));
  EXPECT_EQ(file_bytes(second), "<h1>home</h1>\n");
}

TEST_F(StaticFilesTest, NoCacheOpensEveryTime) {
  StaticFilesOptions options;
  options.cache_entries = 0;
  StaticFiles files = open_files(options);
  EXPECT_EQ(file_bytes(get(files, "/four.bin")), pattern(4096));
  EXPECT_EQ(files.cached_files(), 0u);
}

TEST_F(StaticFilesTest, MountPointPrefixesEveryPath) {
  StaticFilesOptions options;
  options.mount = "/static";
  StaticFiles files = open_files(options);
  EXPECT_EQ(file_bytes(get(files, "/static/four.bin")), pattern(4096));
  EXPECT_EQ(get(files, "/four.bin").status_code(), 404);
  EXPECT_EQ(get(files, "/staticx/four.bin").status_code(), 404);
  EXPECT_EQ(field(get(files, "/static"), "Location"), "/static/");
  EXPECT_EQ(field(get(files, "/static/sub"), "Location"), "/static/sub/");
  EXPECT_EQ(get(files, "/static/../four.bin").status_code(), 404);
}

TEST_F(StaticFilesTest, OpenRefusesBadOptions) {
  StaticFilesOptions missing;
  missing.root = (top_ / "nowhere").string();
  EXPECT_EQ(StaticFiles::open(missing).error(), std::errc::no_such_file_or_directory);
  StaticFilesOptions file_root;
  file_root.root = (top_ / "outside.txt").string();
  EXPECT_EQ(StaticFiles::open(file_root).error(), std::errc::not_a_directory);
  StaticFilesOptions bad_index;
  bad_index.root = root_.string();
  bad_index.index = "../index.html";
  EXPECT_FALSE(StaticFiles::open(bad_index).ok());
  StaticFilesOptions bad_mount;
  bad_mount.root = root_.string();
  bad_mount.mount = "/static/";
  EXPECT_FALSE(StaticFiles::open(bad_mount).ok());
}

// Many threads serve the same few files while the cache, one entry too small, evicts and
// re-checks all the time: every answer is whole and right (run under TSan too).
TEST_F(StaticFilesTest, ConcurrentServesShareTheCache) {
  StaticFilesOptions options;
  options.cache_entries = 2;
  options.revalidate_interval = std::chrono::seconds(0);
  StaticFiles files = open_files(options);
  const std::string whole = pattern(4096);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const char* paths[] = {"/four.bin", "/index.html", "/sub/", "/app.js"};
      for (int i = 0; i < 200; ++i) {
        const char* path = paths[(i + t) % 4];
        TestRequest request = make_request(Method::get, path);
        Response response = files.serve(request.request);
        std::string bytes = file_bytes(response);
        bool right = path == std::string_view("/four.bin") ? bytes == whole : !bytes.empty();
        if (response.status_code() != 200 || !right) ++wrong;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(files.cached_files(), 2u);
}

TEST(ByteRangeTest, ParsesTheSingleRangeForms) {
  using Kind = RangeRequest::Kind;
  auto check = [](std::string_view header, uint64_t size, Kind kind, uint64_t first = 0,
                  uint64_t length = 0) {
    RangeRequest range = parse_range(header, size);
    EXPECT_EQ(range.kind, kind) << header;
    if (kind == Kind::partial) {
      EXPECT_EQ(range.first, first) << header;
      EXPECT_EQ(range.length, length) << header;
    }
  };
  check("bytes=0-0", 10, Kind::partial, 0, 1);
  check("Bytes= 2-4 ", 10, Kind::partial, 2, 3);
  check("bytes=5-", 10, Kind::partial, 5, 5);
  check("bytes=-3", 10, Kind::partial, 7, 3);
  check("bytes=-30", 10, Kind::partial, 0, 10);
  check("bytes=0-99999999999999999999999", 10, Kind::partial, 0, 10);
  check("bytes=99999999999999999999999-", 10, Kind::unsatisfiable);
  check("bytes=10-", 10, Kind::unsatisfiable);
  check("bytes=-1", 0, Kind::unsatisfiable);
  check("bytes=0-", 0, Kind::unsatisfiable);
  check("bytes=-", 10, Kind::whole);
  check("bytes=+1-2", 10, Kind::whole);
  check("bytes=1-2,4-5", 10, Kind::whole);
  check("bytes 1-2", 10, Kind::whole);
  check("", 10, Kind::whole);
}

TEST(ContentCodingTest, AcceptsByNameThenWildcardWithWeights) {
  EXPECT_TRUE(accepts_coding("gzip", "gzip"));
  EXPECT_TRUE(accepts_coding("GZip;q=0.5", "gzip"));
  EXPECT_TRUE(accepts_coding("x-gzip", "gzip"));
  EXPECT_TRUE(accepts_coding("br;q=1.0, *", "gzip"));
  EXPECT_FALSE(accepts_coding("", "gzip"));
  EXPECT_FALSE(accepts_coding("gzip;q=0", "gzip"));
  EXPECT_FALSE(accepts_coding("gzip ; Q=0.00, *", "gzip"));
  EXPECT_FALSE(accepts_coding("*;q=0", "gzip"));
  EXPECT_FALSE(accepts_coding("gzipper, deflate", "gzip"));
  EXPECT_TRUE(accepts_coding("gzip;q=0.001", "gzip"));
}

TEST(EntityTagTest, NoneMatchUsesTheWeakComparison) {
  std::string tag = "\"a-1\"";
  EXPECT_TRUE(none_match_matches("\"a-1\"", tag));
  EXPECT_TRUE(none_match_matches(" W/\"a-1\" ", tag));
  EXPECT_TRUE(none_match_matches("\"x\",\"y\", \"a-1\"", tag));
  EXPECT_TRUE(none_match_matches("*", tag));
  EXPECT_FALSE(none_match_matches("\"a-2\"", tag));
  EXPECT_FALSE(none_match_matches("a-1", tag));   // unquoted: malformed
  EXPECT_FALSE(none_match_matches("\"a-1", tag));  // unterminated
  EXPECT_FALSE(none_match_matches("", tag));
}

TEST(MimeTypesTest, ByExtensionCaseInsensitively) {
  EXPECT_EQ(mime_type_for("/index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(mime_type_for("/a/b.CSS"), "text/css; charset=utf-8");
  EXPECT_EQ(mime_type_for("x.mjs"), "text/javascript; charset=utf-8");
  EXPECT_EQ(mime_type_for("x.json"), "application/json");
  EXPECT_EQ(mime_type_for("x.svg"), "image/svg+xml");
  EXPECT_EQ(mime_type_for("x.jpeg"), "image/jpeg");
  EXPECT_EQ(mime_type_for("x.wasm"), "application/wasm");
  EXPECT_EQ(mime_type_for("x.woff2"), "font/woff2");
  EXPECT_EQ(mime_type_for("x.tar.gz"), "application/gzip");
  EXPECT_EQ(mime_type_for("/dir.d/README"), kDefaultMimeType);
  EXPECT_EQ(mime_type_for("/.profile"), kDefaultMimeType);
  EXPECT_EQ(mime_type_for("x.unknown"), kDefaultMimeType);
  EXPECT_EQ(mime_type_for("x."), kDefaultMimeType);
}

}  // namespace
}  // namespace tern::http
