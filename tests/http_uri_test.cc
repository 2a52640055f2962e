// Request-target helpers (tern/http/uri.h): percent-decoding, the path normalisation that
// stands between a URL and the file system, and query parameters.
#include "tern/http/uri.h"

#include <gtest/gtest.h>

#include <string>

namespace tern::http {
namespace {

std::optional<std::string> decoded(std::string_view in, bool plus_is_space = false) {
  std::string out;
  if (!percent_decode(in, out, plus_is_space)) return std::nullopt;
  return out;
}

TEST(HttpUriTest, PercentDecode) {
  EXPECT_EQ(decoded("a%20b%2Fc%7e"), "a b/c~");
  EXPECT_EQ(decoded("%C3%A9"), "\xc3\xa9");
  EXPECT_EQ(decoded("a+b"), "a+b");
  EXPECT_EQ(decoded("a+b", true), "a b");
  EXPECT_EQ(decoded(""), "");
  std::string out = "kept:";
  ASSERT_TRUE(percent_decode("x", out));
  EXPECT_EQ(out, "kept:x");  // appends
}

TEST(HttpUriTest, PercentDecodeRejectsMalformedEscapesAndNul) {
  for (std::string_view bad : {"%", "%2", "a%2", "%g0", "%0g", "%%", "%00", "a%00b"}) {
    EXPECT_EQ(decoded(bad), std::nullopt) << bad;
  }
  EXPECT_EQ(decoded(std::string_view("a\0b", 3)), std::nullopt);
}

TEST(HttpUriTest, NormalizePathResolvesDotsAndSlashes) {
  struct Row {
    std::string_view raw;
    std::string_view normal;
  } rows[] = {
      {"/", "/"},
      {"/a/b", "/a/b"},
      {"/a/b/", "/a/b/"},
      {"/a/./b", "/a/b"},
      {"/a/../c", "/c"},
      {"/a/./b/../c", "/a/c"},
      {"//a///b", "/a/b"},
      {"/a/b/..", "/a/"},
      {"/a/b/.", "/a/b/"},
      {"/a/..", "/"},
      {"/..a/b..", "/..a/b.."},
      {"/.../x", "/.../x"},
      {"/a%20b/%7Ec", "/a b/~c"},
      {"/a/%2e%2e/b", "/b"},  // decoded dots are dots: resolved, never passed on
      {"/a/%2E/b", "/a/b"},
      {"/a/.%2e/b", "/b"},
      {"/caf%C3%A9", "/caf\xc3\xa9"},
  };
  for (const Row& row : rows) {
    EXPECT_EQ(normalize_path(row.raw), std::optional<std::string>(row.normal)) << row.raw;
  }
}

TEST(HttpUriTest, NormalizePathRefusesTraversalAndAmbiguity) {
  for (std::string_view bad : {
           "", "a/b", "*",                          // not an absolute path
           "/..", "/../a", "/a/../..", "/a/../../b",  // climbs above the root
           "/%2e%2e", "/%2E%2E/etc/passwd", "/a/%2e%2e/%2e%2e/b", "/.%2e/x",
           "/a%2fb", "/a%2F..%2F..%2Fetc",  // an encoded slash
           "/a%00", "/a%00.html",           // NUL
           "/a%5c..%5cb", "/a\\b", "/..\\x",  // backslash, raw or encoded
           "/a%", "/a%2", "/a%zz",          // malformed escapes
       }) {
    EXPECT_EQ(normalize_path(bad), std::nullopt) << bad;
  }
}

TEST(HttpUriTest, QueryParam) {
  std::string_view q = "a=1&b=two+words&c=%41%42&empty=&flag&a=2&d%20e=5";
  EXPECT_EQ(query_param(q, "a"), "1");
  EXPECT_EQ(query_param(q, "b"), "two words");
  EXPECT_EQ(query_param(q, "c"), "AB");
  EXPECT_EQ(query_param(q, "empty"), "");
  EXPECT_EQ(query_param(q, "flag"), "");
  EXPECT_EQ(query_param(q, "d e"), "5");
  EXPECT_EQ(query_param(q, "missing"), std::nullopt);
  EXPECT_EQ(query_param("", "a"), std::nullopt);
  EXPECT_EQ(query_param("a=%zz", "a"), std::nullopt);  // malformed value
  EXPECT_EQ(query_param("a", "a"), "");
  EXPECT_EQ(query_param("&&a=1", "a"), "1");
}

}  // namespace
}  // namespace tern::http
