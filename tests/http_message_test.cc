// The HTTP vocabulary (tern/http/message.h, tern/http/status.h): methods, versions, token
// comparisons, header lookup, and status lines.
#include <gtest/gtest.h>

#include <string>

#include "tern/http/message.h"
#include "tern/http/status.h"

namespace tern::http {
namespace {

TEST(HttpMessageTest, MethodsRoundTrip) {
  for (Method m : {Method::get, Method::head, Method::post, Method::put, Method::delete_,
                   Method::options, Method::connect, Method::trace, Method::patch}) {
    EXPECT_EQ(parse_method(method_name(m)), m) << method_name(m);
  }
  EXPECT_EQ(parse_method("get"), Method::other);  // methods are case-sensitive
  EXPECT_EQ(parse_method("PURGE"), Method::other);
  EXPECT_EQ(parse_method(""), Method::other);
  EXPECT_EQ(method_name(Method::other), "");
  EXPECT_EQ(version_name(Version::http10), "HTTP/1.0");
  EXPECT_EQ(version_name(Version::http11), "HTTP/1.1");
}

TEST(HttpMessageTest, IequalsAndHasToken) {
  EXPECT_TRUE(iequals("Content-Length", "content-length"));
  EXPECT_FALSE(iequals("Content-Length", "content-lengt"));
  EXPECT_FALSE(iequals("a", "b"));
  EXPECT_TRUE(has_token("keep-alive, Close", "close"));
  EXPECT_TRUE(has_token("gzip;q=0.5 , br", "gzip"));
  EXPECT_TRUE(has_token(" \tclose\t ", "close"));
  EXPECT_FALSE(has_token("closed, unclose", "close"));
  EXPECT_FALSE(has_token("", "close"));
  EXPECT_FALSE(has_token(",,", "close"));
}

TEST(HttpMessageTest, HeadersFindTheFirstCaseInsensitively) {
  Header fields[] = {{"Host", "a"}, {"X-Dup", "1"}, {"x-dup", "2"}};
  Headers headers(fields);
  EXPECT_EQ(headers.find("HOST"), "a");
  EXPECT_EQ(headers.find("X-DUP"), "1");
  EXPECT_FALSE(headers.contains("Missing"));
  EXPECT_EQ(headers.size(), 3u);
  EXPECT_TRUE(Headers().empty());
}

TEST(HttpStatusTest, StatusLinesAreSpelledFromTheirReasons) {
  for (int code : {100, 101, 200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 308, 400, 401,
                   403, 404, 405, 406, 408, 409, 411, 412, 413, 414, 415, 416, 417, 421, 422,
                   426, 428, 429, 431, 500, 501, 502, 503, 504, 505}) {
    std::string_view reason = reason_phrase(code);
    EXPECT_NE(reason, "Unknown") << code;
    EXPECT_EQ(status_line(code),
              "HTTP/1.1 " + std::to_string(code) + " " + std::string(reason) + "\r\n");
  }
  EXPECT_EQ(reason_phrase(404), "Not Found");
  EXPECT_EQ(status_line(200), "HTTP/1.1 200 OK\r\n");
  EXPECT_EQ(reason_phrase(299), "Unknown");
  EXPECT_EQ(status_line(299), "");
  EXPECT_EQ(status_line(99), "");
  EXPECT_EQ(status_line(600), "");
  EXPECT_EQ(reason_phrase(-1), "Unknown");
}

TEST(HttpStatusTest, StatusHasBody) {
  EXPECT_FALSE(status_has_body(100));
  EXPECT_FALSE(status_has_body(204));
  EXPECT_FALSE(status_has_body(304));
  EXPECT_TRUE(status_has_body(200));
  EXPECT_TRUE(status_has_body(404));
}

}  // namespace
}  // namespace tern::http
