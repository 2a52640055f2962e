// The HTTP/1.1 parser (tern/http/parser.h): one case per rule of docs/http.md "Parser rules" and
// per malformed variant, the same result for every way the bytes can arrive (whole, split at
// every point, one byte at a time, the buffer moved between calls), the no-rescan property
// counted in bytes examined, and no allocation per request in steady state.
#include "tern/http/parser.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "http/field_rules.h"

// Counts heap allocations, so a test can assert that steady-state parsing makes none.
#include "counting_new.h"

namespace tern::http {
namespace {

using namespace std::string_literals;

std::string describe(const Request& r) {
  std::string out = std::string(r.method_token) + "|" + std::string(method_name(r.method)) +
                    "|" + std::string(r.target) + "|" + std::string(r.path) + "|" +
                    std::string(r.query) + "|" + std::string(version_name(r.version));
  for (const Header& h : r.headers) out += "|" + std::string(h.name) + "=" + std::string(h.value);
  out += "|body=" + std::string(r.body);
  out += r.keep_alive ? "|keep-alive" : "|close";
  if (r.expects_continue) out += "|100-continue";
  return out;
}

std::string describe(const ParsedResponse& r) {
  std::string out = std::to_string(r.status) + "|" + std::string(r.reason) + "|" +
                    std::string(version_name(r.version));
  for (const Header& h : r.headers) out += "|" + std::string(h.name) + "=" + std::string(h.value);
  out += "|body=" + std::string(r.body);
  out += r.keep_alive ? "|keep-alive" : "|close";
  return out;
}

// A copy of some bytes at an address of its own; the old copy is poisoned when replaced, so a
// parser that kept a pointer into it would read garbage.
class MovingBuffer {
 public:
  std::string_view hold(std::string_view bytes) {
    auto fresh = std::make_unique<char[]>(bytes.size() + 1);
    std::memcpy(fresh.get(), bytes.data(), bytes.size());
    if (bytes_) std::memset(bytes_.get(), 'X', size_ + 1);
    bytes_ = std::move(fresh);
    size_ = bytes.size();
    return {bytes_.get(), size_};
  }

 private:
  std::unique_ptr<char[]> bytes_;
  size_t size_ = 0;
};

// Parses the requests in `input` as a connection would receive them: the bytes arriving up to
// each of `cuts`, then the rest, each call on a freshly moved copy of the unconsumed bytes.
// Returns what was parsed: each request, its length, and the final error or leftover.
std::string transcript(std::string_view input, std::vector<size_t> cuts, const Limits& limits) {
  RequestParser parser(limits);
  MovingBuffer buffer;
  std::string out;
  size_t base = 0;
  cuts.push_back(input.size());
  for (size_t cut : cuts) {
    while (true) {
      std::string_view view = buffer.hold(input.substr(base, cut - base));
      ParseStatus status = parser.parse(view);
      if (status == ParseStatus::need_more) break;
      if (status == ParseStatus::error) {
        return out + "error: " + parser.error().message() + " (" +
               std::to_string(status_of(parser.error())) + ")";
      }
      out += describe(parser.request()) + " [" + std::to_string(parser.consumed()) + "]\n";
      base += parser.consumed();
      parser.reset();
      if (base == cut) break;
    }
  }
  if (base < input.size()) out += "need more after " + std::to_string(base);
  return out;
}

struct Parsed {
  ParseStatus status;
  std::error_code error;
  std::string text;
  size_t consumed = 0;
};

Parsed parse_request(std::string_view raw, const Limits& limits = Limits{}) {
  RequestParser parser(limits);
  ParseStatus status = parser.parse(raw);
  Parsed p{status, parser.error(), "", parser.consumed()};
  if (status == ParseStatus::complete) p.text = describe(parser.request());
  return p;
}

// ---- Well-formed requests -------------------------------------------------------------------

TEST(HttpRequestParserTest, SimpleGetFillsEveryField) {
  std::string raw = "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n";
  RequestParser parser{Limits{}};
  ASSERT_EQ(parser.parse(raw), ParseStatus::complete);
  const Request& r = parser.request();
  EXPECT_EQ(r.method, Method::get);
  EXPECT_EQ(r.method_token, "GET");
  EXPECT_EQ(r.target, "/a/b?x=1&y=2");
  EXPECT_EQ(r.path, "/a/b");
  EXPECT_EQ(r.query, "x=1&y=2");
  EXPECT_EQ(r.version, Version::http11);
  EXPECT_EQ(r.headers.size(), 2u);
  EXPECT_EQ(r.header("HOST"), "example.com");
  EXPECT_EQ(r.header("user-agent"), "t");
  EXPECT_TRUE(r.body.empty());
  EXPECT_TRUE(r.keep_alive);
  EXPECT_FALSE(r.expects_continue);
  EXPECT_EQ(parser.consumed(), raw.size());
  EXPECT_FALSE(parser.in_body());
  // Zero-copy: the views point into the input.
  EXPECT_EQ(r.target.data(), raw.data() + 4);
}

TEST(HttpRequestParserTest, CompleteStopsAtTheEndOfTheFirstOfPipelinedRequests) {
  std::string first = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n";
  std::string raw = first + "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
  Parsed p = parse_request(raw);
  ASSERT_EQ(p.status, ParseStatus::complete);
  EXPECT_EQ(p.consumed, first.size());
}

TEST(HttpRequestParserTest, LeadingEmptyLinesAreSkippedAndCounted) {
  std::string raw = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
  RequestParser parser{Limits{}};
  ASSERT_EQ(parser.parse(raw), ParseStatus::complete);
  EXPECT_EQ(parser.request().method_token, "GET");
  EXPECT_EQ(parser.consumed(), raw.size());
}

TEST(HttpRequestParserTest, OwsAroundValuesIsTrimmedAndHtabAndObsTextAreAllowed) {
  RequestParser parser{Limits{}};
  std::string raw = "GET / HTTP/1.1\r\nHost: \t a \t\r\nX: in\tside \xe9\r\nEmpty:\r\n\r\n";
  ASSERT_EQ(parser.parse(raw), ParseStatus::complete);
  EXPECT_EQ(parser.request().header("host"), "a");
  EXPECT_EQ(parser.request().header("x"), "in\tside \xe9");
  EXPECT_EQ(parser.request().header("empty"), "");
}

TEST(HttpRequestParserTest, KeepAliveFollowsTheVersionAndConnection) {
  struct Row {
    std::string head;
    bool keep_alive;
  } rows[] = {
      {"GET / HTTP/1.1\r\nHost: a\r\n", true},
      {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n", false},
      {"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n", false},
      {"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: close\r\n", false},
      {"GET / HTTP/1.0\r\n", false},
      {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n", true},
      {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n", false},
  };
  for (const Row& row : rows) {
    RequestParser parser{Limits{}};
    ASSERT_EQ(parser.parse(row.head + "\r\n"), ParseStatus::complete) << row.head;
    EXPECT_EQ(parser.request().keep_alive, row.keep_alive) << row.head;
  }
}

TEST(HttpRequestParserTest, MethodsAreCaseSensitiveTokens) {
  RequestParser parser{Limits{}};
  ASSERT_EQ(parser.parse("PURGE / HTTP/1.1\r\nHost: a\r\n\r\n"), ParseStatus::complete);
  EXPECT_EQ(parser.request().method, Method::other);
  EXPECT_EQ(parser.request().method_token, "PURGE");
  parser.reset();
  ASSERT_EQ(parser.parse("get / HTTP/1.1\r\nHost: a\r\n\r\n"), ParseStatus::complete);
  EXPECT_EQ(parser.request().method, Method::other);
  parser.reset();
  ASSERT_EQ(parser.parse("DELETE / HTTP/1.1\r\nHost: a\r\n\r\n"), ParseStatus::complete);
  EXPECT_EQ(parser.request().method, Method::delete_);
}

TEST(HttpRequestParserTest, TargetForms) {
  struct Row {
    std::string line;
    std::string path;
    std::string query;
  } rows[] = {
      {"OPTIONS * HTTP/1.1", "", ""},
      {"OPTIONS /x HTTP/1.1", "/x", ""},
      {"CONNECT example.com:443 HTTP/1.1", "", ""},
      {"CONNECT [::1]:8080 HTTP/1.1", "", ""},
      {"GET http://example.com/a/b?c=d HTTP/1.1", "/a/b", "c=d"},
      {"GET HTTPS://example.com:8443 HTTP/1.1", "/", ""},
      {"GET http://example.com?q HTTP/1.1", "/", "q"},
      {"GET /?only=query HTTP/1.1", "/", "only=query"},
      {"GET /a?b?c HTTP/1.1", "/a", "b?c"},
      {"GET /%7Euser/a%20b HTTP/1.1", "/%7Euser/a%20b", ""},
  };
  for (const Row& row : rows) {
    RequestParser parser{Limits{}};
    std::string raw = row.line + "\r\nHost: a\r\n\r\n";  // outlives the views
    ASSERT_EQ(parser.parse(raw), ParseStatus::complete) << row.line;
    EXPECT_EQ(parser.request().path, row.path) << row.line;
    EXPECT_EQ(parser.request().query, row.query) << row.line;
  }
}

TEST(HttpRequestParserTest, ContentLengthBodyIsAViewIntoTheInput) {
  std::string raw = "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET";
  RequestParser parser{Limits{}};
  ASSERT_EQ(parser.parse(raw), ParseStatus::complete);
  EXPECT_EQ(parser.request().body, "hello");
  EXPECT_EQ(parser.request().body.data(), raw.data() + raw.size() - 8);
  EXPECT_EQ(parser.consumed(), raw.size() - 3);
}

TEST(HttpRequestParserTest, IdenticalContentLengthDuplicatesAreAccepted) {
  for (std::string cl : {"Content-Length: 5, 5\r\n", "Content-Length: 5\r\nContent-Length: 5\r\n",
                         "Content-Length: 5,5 , 5\r\n"}) {
    Parsed p = parse_request("POST / HTTP/1.1\r\nHost: a\r\n" + cl + "\r\nhello");
    ASSERT_EQ(p.status, ParseStatus::complete) << cl;
    EXPECT_NE(p.text.find("body=hello"), std::string::npos);
  }
}

TEST(HttpRequestParserTest, ChunkedBodyIsDechunkedWithExtensionsAndTrailers) {
  std::string raw =
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;name=value\r\nhello\r\n"
      "0006 ; a = \"q\\\"x\" ;b\r\n world\r\n"
      "A\r\n0123456789\r\n"
      "0\r\nX-Trailer: t\r\nChecksum: 1\r\n\r\n";
  RequestParser parser{Limits{}};
  ASSERT_EQ(parser.parse(raw), ParseStatus::complete) << parser.error().message();
  EXPECT_EQ(parser.request().body, "hello world0123456789");
  EXPECT_EQ(parser.consumed(), raw.size());
  // Trailers are checked but not merged into the head (RFC 9110 6.5.1).
  EXPECT_FALSE(parser.request().header("x-trailer"));
}

TEST(HttpRequestParserTest, TransferEncodingIsCaseInsensitiveAndMaySpanLines) {
  Parsed p = parse_request(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n");
  ASSERT_EQ(p.status, ParseStatus::complete);
  EXPECT_NE(p.text.find("body=x|"), std::string::npos);
}

TEST(HttpRequestParserTest, ExpectContinueIsSetWhenTheHeadIsParsedBeforeTheBody) {
  RequestParser parser{Limits{}};
  std::string head =
      "PUT /u HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n";
  EXPECT_EQ(parser.parse(head), ParseStatus::need_more);
  EXPECT_TRUE(parser.in_body());
  EXPECT_TRUE(parser.expects_continue());
  EXPECT_TRUE(parser.request().expects_continue);
  EXPECT_EQ(parser.request().method, Method::put);
  std::string whole = head + "abc";  // outlives the views
  EXPECT_EQ(parser.parse(whole), ParseStatus::complete);
  EXPECT_FALSE(parser.in_body());
  EXPECT_EQ(parser.request().body, "abc");
}

TEST(HttpRequestParserTest, ExpectContinueIsIgnoredOnHttp10) {
  RequestParser parser{Limits{}};
  EXPECT_EQ(parser.parse("PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n"),
            ParseStatus::need_more);
  EXPECT_TRUE(parser.in_body());
  EXPECT_FALSE(parser.expects_continue());
}

TEST(HttpRequestParserTest, LimitsAtTheirBoundariesAreAccepted) {
  Limits limits;
  limits.max_request_line = 30;
  limits.max_headers = 2;
  limits.max_body = 5;
  std::string line = "GET /" + std::string(16, 'a') + " HTTP/1.1";  // exactly 30
  ASSERT_EQ(line.size(), 30u);
  Parsed p = parse_request(line + "\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", limits);
  EXPECT_EQ(p.status, ParseStatus::complete) << p.error.message();
}

// The word-at-a-time field-value check agrees with the byte table for every byte value, at
// every position of a word and of the tail.
TEST(HttpFieldRulesTest, WordAtATimeValueCheckAgreesWithTheTable) {
  for (int b = 0; b < 256; ++b) {
    for (size_t at = 0; at < 19; ++at) {
      std::string value(19, 'a');
      value[at] = static_cast<char>(b);
      EXPECT_EQ(rules::all_field_value(value), rules::is(rules::kFieldValue, char(b)))
          << "byte " << b << " at " << at;
    }
  }
  EXPECT_TRUE(rules::all_field_value(""));
}

// ---- Malformed requests: each rule, its error and status -----------------------------------

struct Malformed {
  const char* name;
  std::string raw;
  ParseError error;
};

Limits small_limits() {
  Limits limits;
  limits.max_request_line = 64;
  limits.max_header_bytes = 128;
  limits.max_headers = 4;
  limits.max_body = 16;
  limits.max_chunk_line = 24;
  limits.max_trailer_bytes = 32;
  return limits;
}

const std::string kHost = "Host: a\r\n";

std::string repeat(std::string_view piece, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += piece;
  return out;
}
const std::string kChunked = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";

std::vector<Malformed> malformed_requests() {
  return {
      // Request line.
      {"no_version", "GET /\r\n\r\n", ParseError::bad_request_line},
      {"no_target", "GET HTTP/1.1\r\n\r\n", ParseError::bad_request_line},
      {"only_method", "GET\r\n\r\n", ParseError::bad_request_line},
      {"method_not_token", "GE(T / HTTP/1.1\r\n" + kHost + "\r\n", ParseError::bad_method},
      {"empty_method", " / HTTP/1.1\r\n" + kHost + "\r\n", ParseError::bad_method},
      {"double_space", "GET  / HTTP/1.1\r\n" + kHost + "\r\n", ParseError::bad_target},
      {"space_in_target", "GET /a b HTTP/1.1\r\n" + kHost + "\r\n", ParseError::bad_target},
      {"fragment", "GET /a#f HTTP/1.1\r\n" + kHost + "\r\n", ParseError::bad_target},
      {"ctl_in_target", "GET /\x01 HTTP/1.1\r\n" + kHost + "\r\n", ParseError::bad_target},
      {"del_in_target", "GET /\x7f HTTP/1.1\r\n" + kHost + "\r\n", ParseError::bad_target},
      {"nul_in_target", "GET /\0 HTTP/1.1\r\n"s + kHost + "\r\n", ParseError::bad_target},
      {"obs_text_in_target", "GET /\xe9 HTTP/1.1\r\n" + kHost + "\r\n", ParseError::bad_target},
      {"tab_in_target", "GET /\t HTTP/1.1\r\n" + kHost + "\r\n", ParseError::bad_target},
      {"bare_cr_in_line", "GET /\r HTTP/1.1\r\n" + kHost + "\r\n", ParseError::bad_target},
      {"star_not_options", "GET * HTTP/1.1\r\n" + kHost + "\r\n", ParseError::bad_target},
      {"connect_origin_form", "CONNECT / HTTP/1.1\r\n" + kHost + "\r\n", ParseError::bad_target},
      {"connect_no_port", "CONNECT a.com HTTP/1.1\r\n" + kHost + "\r\n", ParseError::bad_target},
      {"connect_bad_port", "CONNECT a.com:8x HTTP/1.1\r\n" + kHost + "\r\n",
       ParseError::bad_target},
      {"authority_not_connect", "GET a.com:443 HTTP/1.1\r\n" + kHost + "\r\n",
       ParseError::bad_target},
      {"absolute_other_scheme", "GET ftp://a/ HTTP/1.1\r\n" + kHost + "\r\n",
       ParseError::bad_target},
      {"absolute_no_host", "GET http:///a HTTP/1.1\r\n" + kHost + "\r\n", ParseError::bad_target},
      {"relative_target", "GET a/b HTTP/1.1\r\n" + kHost + "\r\n", ParseError::bad_target},
      {"version_2", "GET / HTTP/2.0\r\n" + kHost + "\r\n", ParseError::unsupported_version},
      {"version_09", "GET / HTTP/0.9\r\n" + kHost + "\r\n", ParseError::unsupported_version},
      {"version_12", "GET / HTTP/1.2\r\n" + kHost + "\r\n", ParseError::unsupported_version},
      {"version_lowercase", "GET / http/1.1\r\n" + kHost + "\r\n", ParseError::bad_version},
      {"version_long", "GET / HTTP/1.10\r\n" + kHost + "\r\n", ParseError::bad_version},
      {"version_trailing_space", "GET / HTTP/1.1 \r\n" + kHost + "\r\n", ParseError::bad_version},
      {"version_garbage", "GET / FOO\r\n" + kHost + "\r\n", ParseError::bad_version},
      {"request_line_too_long", "GET /" + std::string(80, 'a') + " HTTP/1.1\r\n" + kHost + "\r\n",
       ParseError::target_too_long},
      {"request_line_too_long_unterminated", "GET /" + std::string(80, 'a'),
       ParseError::target_too_long},
      // Found by the fuzzer: the length is judged before the line end, so an overlong line
      // ended by a bare LF is 414 however the bytes were split (it was 400 whole, 414 split).
      {"request_line_too_long_bare_lf", "GET /" + std::string(80, 'a') + " HTTP/1.1\n",
       ParseError::target_too_long},
      {"too_many_empty_lines", repeat("\r\n", 40) + "GET / HTTP/1.1\r\n" + kHost + "\r\n",
       ParseError::bad_request_line},
      // Bare LF, everywhere.
      {"bare_lf_leading", "\nGET / HTTP/1.1\r\n" + kHost + "\r\n", ParseError::bare_lf},
      {"bare_lf_request_line", "GET / HTTP/1.1\n" + kHost + "\r\n", ParseError::bare_lf},
      {"bare_lf_field", "GET / HTTP/1.1\r\nHost: a\n\r\n", ParseError::bare_lf},
      {"bare_lf_end_of_head", "GET / HTTP/1.1\r\n" + kHost + "\n", ParseError::bare_lf},
      {"bare_lf_chunk_size", kChunked + "5\nhello\r\n0\r\n\r\n", ParseError::bare_lf},
      {"bare_lf_chunk_data", kChunked + "5\r\nhello\n0\r\n\r\n", ParseError::bare_lf},
      {"bare_lf_trailer", kChunked + "0\r\nX: y\n\r\n", ParseError::bare_lf},
      {"bare_lf_last", kChunked + "0\r\n\n", ParseError::bare_lf},
      // Field lines.
      {"space_before_colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", ParseError::bad_field_name},
      {"tab_before_colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", ParseError::bad_field_name},
      {"name_not_token", "GET / HTTP/1.1\r\n" + kHost + "X(y): z\r\n\r\n",
       ParseError::bad_field_name},
      {"empty_name", "GET / HTTP/1.1\r\n" + kHost + ": z\r\n\r\n", ParseError::bad_field_name},
      {"no_colon", "GET / HTTP/1.1\r\n" + kHost + "NoColon\r\n\r\n", ParseError::bad_field_name},
      {"obs_fold", "GET / HTTP/1.1\r\n" + kHost + "X: a\r\n b\r\n\r\n",
       ParseError::obsolete_line_folding},
      {"obs_fold_tab", "GET / HTTP/1.1\r\n" + kHost + "X: a\r\n\tb\r\n\r\n",
       ParseError::obsolete_line_folding},
      {"first_field_folded", "GET / HTTP/1.1\r\n Host: a\r\n\r\n",
       ParseError::obsolete_line_folding},
      {"bare_cr_in_value", "GET / HTTP/1.1\r\n" + kHost + "X: a\rb\r\n\r\n",
       ParseError::bad_field_value},
      {"nul_in_value", "GET / HTTP/1.1\r\n"s + kHost + "X: a\0b\r\n\r\n"s,
       ParseError::bad_field_value},
      {"ctl_in_value", "GET / HTTP/1.1\r\n" + kHost + "X: a\x01\r\n\r\n",
       ParseError::bad_field_value},
      {"del_in_value", "GET / HTTP/1.1\r\n" + kHost + "X: a\x7f\r\n\r\n",
       ParseError::bad_field_value},
      {"bare_cr_in_name", "GET / HTTP/1.1\r\n" + kHost + "X\r: a\r\n\r\n",
       ParseError::bad_field_name},
      {"header_block_too_large",
       "GET / HTTP/1.1\r\n" + kHost + "X: " + std::string(200, 'a') + "\r\n\r\n",
       ParseError::headers_too_large},
      {"header_block_too_large_unterminated", "GET / HTTP/1.1\r\n" + kHost + std::string(200, 'a'),
       ParseError::headers_too_large},
      {"too_many_fields", "GET / HTTP/1.1\r\n" + kHost + "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n",
       ParseError::headers_too_large},
      // Host.
      {"missing_host", "GET / HTTP/1.1\r\n\r\n", ParseError::missing_host},
      {"duplicate_host", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
       ParseError::duplicate_host},
      {"duplicate_host_http10", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
       ParseError::duplicate_host},
      {"host_with_path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", ParseError::bad_host},
      {"host_with_userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", ParseError::bad_host},
      // Content-Length.
      {"cl_negative", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: -1\r\n\r\n",
       ParseError::bad_content_length},
      {"cl_plus", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: +1\r\n\r\nx",
       ParseError::bad_content_length},
      {"cl_hex", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 0x1\r\n\r\nx",
       ParseError::bad_content_length},
      {"cl_empty", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: \r\n\r\n",
       ParseError::bad_content_length},
      {"cl_inner_space", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 1 1\r\n\r\n",
       ParseError::bad_content_length},
      {"cl_differing_list", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 1, 2\r\n\r\nxx",
       ParseError::bad_content_length},
      {"cl_differing_lines",
       "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
       ParseError::bad_content_length},
      {"cl_empty_element", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 1,,1\r\n\r\nx",
       ParseError::bad_content_length},
      {"cl_trailing_comma", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 1,\r\n\r\nx",
       ParseError::bad_content_length},
      {"cl_overflow",
       "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 18446744073709551616\r\n\r\n",
       ParseError::bad_content_length},
      {"cl_over_limit", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 17\r\n\r\n",
       ParseError::body_too_large},
      {"cl_max_u64", "POST / HTTP/1.1\r\n" + kHost + "Content-Length: 18446744073709551615\r\n",
       ParseError::body_too_large},
      // Transfer-Encoding.
      {"te_and_cl",
       "POST / HTTP/1.1\r\n" + kHost +
           "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       ParseError::content_length_with_transfer_encoding},
      {"cl_after_te",
       "POST / HTTP/1.1\r\n" + kHost +
           "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
       ParseError::content_length_with_transfer_encoding},
      {"te_gzip", "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: gzip\r\n\r\n",
       ParseError::unsupported_transfer_coding},
      {"te_gzip_chunked",
       "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: gzip, chunked\r\n\r\n",
       ParseError::unsupported_transfer_coding},
      {"te_chunked_not_final",
       "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: chunked, identity\r\n\r\n",
       ParseError::unsupported_transfer_coding},
      {"te_chunked_twice",
       "POST / HTTP/1.1\r\n" + kHost +
           "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
       ParseError::unsupported_transfer_coding},
      {"te_empty", "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: \r\n\r\n",
       ParseError::bad_field_value},
      {"te_parameter", "POST / HTTP/1.1\r\n" + kHost + "Transfer-Encoding: chunked;x=1\r\n\r\n",
       ParseError::bad_field_value},
      {"te_http10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       ParseError::transfer_encoding_on_http10},
      // Chunks.
      {"chunk_size_not_hex", kChunked + "g\r\n", ParseError::bad_chunk},
      {"chunk_size_empty", kChunked + "\r\n", ParseError::bad_chunk},
      {"chunk_size_negative", kChunked + "-1\r\n", ParseError::bad_chunk},
      {"chunk_size_space", kChunked + " 1\r\nx\r\n0\r\n\r\n", ParseError::bad_chunk},
      {"chunk_size_0x", kChunked + "0x1\r\nx\r\n0\r\n\r\n", ParseError::bad_chunk},
      {"chunk_size_overflow", kChunked + "10000000000000000\r\n", ParseError::bad_chunk},
      {"chunk_ext_empty", kChunked + "1;\r\nx\r\n0\r\n\r\n", ParseError::bad_chunk},
      {"chunk_ext_no_name", kChunked + "1;=v\r\nx\r\n0\r\n\r\n", ParseError::bad_chunk},
      {"chunk_ext_no_value", kChunked + "1;a=\r\nx\r\n0\r\n\r\n", ParseError::bad_chunk},
      {"chunk_ext_open_quote", kChunked + "1;a=\"v\r\nx\r\n0\r\n\r\n", ParseError::bad_chunk},
      {"chunk_ext_garbage", kChunked + "1 x\r\nx\r\n0\r\n\r\n", ParseError::bad_chunk},
      {"chunk_ext_ctl", kChunked + "1;a=\"\x01\"\r\nx\r\n0\r\n\r\n", ParseError::bad_chunk},
      {"chunk_bare_cr", kChunked + "1\r\r\nx\r\n0\r\n\r\n", ParseError::bad_chunk},
      {"chunk_data_too_long", kChunked + "1\r\nxy\r\n0\r\n\r\n", ParseError::bad_chunk},
      {"chunk_data_no_crlf", kChunked + "1\r\nx\rX", ParseError::bad_chunk},
      {"chunk_line_too_long", kChunked + "1;a=" + std::string(40, 'b') + "\r\nx\r\n0\r\n\r\n",
       ParseError::chunk_line_too_long},
      {"chunk_line_too_long_unterminated", kChunked + "1;a=" + std::string(40, 'b'),
       ParseError::chunk_line_too_long},
      {"chunk_line_too_long_bare_lf", kChunked + "1;a=" + std::string(40, 'b') + "\n",
       ParseError::chunk_line_too_long},
      {"chunked_over_limit", kChunked + "10\r\n" + std::string(16, 'x') + "\r\n1\r\n",
       ParseError::body_too_large},
      {"trailer_folded", kChunked + "0\r\nX: a\r\n b\r\n\r\n", ParseError::obsolete_line_folding},
      {"trailer_bad_name", kChunked + "0\r\nX Y: a\r\n\r\n", ParseError::bad_field_name},
      {"trailer_ctl", kChunked + "0\r\nX: \x01\r\n\r\n", ParseError::bad_field_value},
      {"trailers_too_large", kChunked + "0\r\nX: " + std::string(40, 'a') + "\r\n\r\n",
       ParseError::trailers_too_large},
      {"too_many_trailers", kChunked + "0\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\n\r\n",
       ParseError::trailers_too_large},
  };
}

int expected_status(ParseError e) {
  switch (e) {
    case ParseError::target_too_long: return 414;
    case ParseError::unsupported_version: return 505;
    case ParseError::headers_too_large:
    case ParseError::trailers_too_large: return 431;
    case ParseError::unsupported_transfer_coding: return 501;
    case ParseError::body_too_large: return 413;
    default: return 400;
  }
}

TEST(HttpRequestParserTest, EachMalformedVariantFailsWithItsErrorAndStatus) {
  for (const Malformed& m : malformed_requests()) {
    RequestParser parser(small_limits());
    EXPECT_EQ(parser.parse(m.raw), ParseStatus::error) << m.name;
    EXPECT_EQ(parser.error(), make_error_code(m.error))
        << m.name << ": got " << parser.error().message();
    EXPECT_EQ(status_of(parser.error()), expected_status(m.error)) << m.name;
    // The error sticks: nothing after a bad request is ever processed.
    EXPECT_EQ(parser.parse(m.raw + "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), ParseStatus::error);
  }
}

TEST(HttpRequestParserTest, StatusOfMapsTheErrorsToTheirResponses) {
  EXPECT_EQ(status_of(ParseError::target_too_long), 414);
  EXPECT_EQ(status_of(ParseError::headers_too_large), 431);
  EXPECT_EQ(status_of(ParseError::trailers_too_large), 431);
  EXPECT_EQ(status_of(ParseError::body_too_large), 413);
  EXPECT_EQ(status_of(ParseError::unsupported_transfer_coding), 501);
  EXPECT_EQ(status_of(ParseError::unsupported_version), 505);
  EXPECT_EQ(status_of(ParseError::bad_chunk), 400);
  EXPECT_EQ(status_of(std::make_error_code(std::errc::io_error)), 400);
  EXPECT_STREQ(parse_category().name(), "http");
  EXPECT_EQ(make_error_code(ParseError::bare_lf).message(), "line ended by LF without CR");
}

// Misuse, not input: the offsets are only true for the same bytes with more appended.
TEST(HttpRequestParserDeathTest, AnInputThatShrinksAborts) {
  RequestParser parser{Limits{}};
  std::string raw = "GET / HTTP/1.1\r\nHost:";
  ASSERT_EQ(parser.parse(raw), ParseStatus::need_more);
  EXPECT_DEATH(parser.parse(std::string_view(raw).substr(0, 5)), "input shrank");
}

TEST(HttpRequestParserTest, BodyTooLargeIsDecidedBeforeTheBodyArrives) {
  Limits limits;
  limits.max_body = 1000;
  RequestParser parser(limits);
  EXPECT_EQ(parser.parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n"),
            ParseStatus::error);
  EXPECT_EQ(status_of(parser.error()), 413);
}

TEST(HttpRequestParserTest, OversizeLinesFailBeforeTheirEndArrives) {
  Limits limits = small_limits();
  RequestParser line_parser(limits);
  EXPECT_EQ(line_parser.parse("GET /" + std::string(60, 'a')), ParseStatus::need_more);
  EXPECT_EQ(line_parser.parse("GET /" + std::string(70, 'a')), ParseStatus::error);
  EXPECT_EQ(status_of(line_parser.error()), 414);
  RequestParser head_parser(limits);
  EXPECT_EQ(head_parser.parse("GET / HTTP/1.1\r\nX: " + std::string(200, 'a')),
            ParseStatus::error);
  EXPECT_EQ(status_of(head_parser.error()), 431);
}

// ---- Every way the bytes can arrive gives the same result -------------------------------------

std::vector<std::string> incremental_corpus() {
  std::vector<std::string> corpus = {
      "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
      "GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nConnection: close\r\n\r\n"
      "GET /2 HTTP/1.0\r\n\r\n"
      "HEAD /3 HTTP/1.1\r\nHost: a\r\n\r\n",
      "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
      "POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world"
      "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1;q=\"a b\"\r\nhello\r\n1\r\n \r\n0005\r\nworld\r\n0\r\nT: 1\r\nU: 2\r\n\r\n"
      "GET /after HTTP/1.1\r\nHost: a\r\n\r\n",
      "PUT /u HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
      "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /partial HTTP/1.1\r\nHo",
  };
  for (const Malformed& m : malformed_requests()) corpus.push_back(m.raw);
  return corpus;
}

TEST(HttpRequestParserTest, EverySplitPointGivesTheSameResultAsTheWhole) {
  Limits limits = small_limits();
  limits.max_header_bytes = 512;  // room for the pipelined corpus entries
  limits.max_headers = 8;
  for (const std::string& raw : incremental_corpus()) {
    std::string whole = transcript(raw, {}, limits);
    for (size_t cut = 1; cut < raw.size(); ++cut) {
      ASSERT_EQ(transcript(raw, {cut}, limits), whole) << "split at " << cut << " of " << raw;
    }
  }
}

TEST(HttpRequestParserTest, ByteAtATimeGivesTheSameResultAsTheWhole) {
  Limits limits = small_limits();
  limits.max_header_bytes = 512;
  limits.max_headers = 8;
  for (const std::string& raw : incremental_corpus()) {
    std::vector<size_t> cuts;
    for (size_t cut = 1; cut < raw.size(); ++cut) cuts.push_back(cut);
    EXPECT_EQ(transcript(raw, cuts, limits), transcript(raw, {}, limits)) << raw;
  }
}

TEST(HttpRequestParserTest, TheCorpusParsesAsExpectedWhole) {
  Limits limits = small_limits();
  limits.max_header_bytes = 512;
  limits.max_headers = 8;
  std::vector<std::string> corpus = incremental_corpus();
  EXPECT_EQ(transcript(corpus[1], {}, limits),
            "GET|GET|/a?b=c|/a|b=c|HTTP/1.1|Host=example.com|Accept=*/*|Connection=close|body=|"
            "close [74]\n"
            "GET|GET|/2|/2||HTTP/1.0|body=|close [19]\n"
            "HEAD|HEAD|/3|/3||HTTP/1.1|Host=a|body=|keep-alive [29]\n");
  EXPECT_EQ(transcript(corpus[4], {}, limits),
            "POST|POST|/|/||HTTP/1.1|Host=a|Transfer-Encoding=chunked|body=hello world|"
            "keep-alive [116]\n"
            "GET|GET|/after|/after||HTTP/1.1|Host=a|body=|keep-alive [32]\n");
  EXPECT_EQ(transcript(corpus[6], {}, limits),
            "GET|GET|/|/||HTTP/1.1|Host=a|body=|keep-alive [27]\nneed more after 27");
}

// ---- Linear time: nothing is rescanned -------------------------------------------------------

// A head of `fields` lines and one long line, fed one byte at a time: the bytes the parser
// examines stay within a small multiple of the head's size. A parser that searched each line
// from its start again on every call would examine O(n^2) bytes (about 100 million here).
TEST(HttpRequestParserTest, ByteAtATimeExaminesEachByteAConstantNumberOfTimes) {
  Limits limits;
  limits.max_header_bytes = 64 * 1024;
  limits.max_headers = 1000;
  std::string head = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 100; ++i) head += "X-Field-" + std::to_string(i) + ": some value\r\n";
  head += "X-Long: " + std::string(14 * 1024, 'v') + "\r\n\r\n";
  ASSERT_GE(head.size(), 16u * 1024);
  RequestParser parser(limits);
  ParseStatus status = ParseStatus::need_more;
  size_t calls = 0;
  for (size_t n = 1; n <= head.size() && status == ParseStatus::need_more; ++n, ++calls) {
    status = parser.parse(std::string_view(head).substr(0, n));
  }
  ASSERT_EQ(status, ParseStatus::complete);
  EXPECT_EQ(calls, head.size());
  EXPECT_LE(parser.bytes_examined(), 2 * head.size());
  EXPECT_GE(parser.bytes_examined(), head.size());  // the counter counts
}

TEST(HttpRequestParserTest, ChunkedBodyByteAtATimeIsLinear) {
  std::string raw = kChunked;
  for (int i = 0; i < 200; ++i) {
    // Long extensions, so that searching a chunk line again on every call would show.
    raw += "40;e=" + std::string(200, 'x') + "\r\n" + std::string(64, 'c') + "\r\n";
  }
  raw += "0\r\n\r\n";
  Limits limits;
  RequestParser parser(limits);
  ParseStatus status = ParseStatus::need_more;
  for (size_t n = 1; n <= raw.size() && status == ParseStatus::need_more; ++n) {
    status = parser.parse(std::string_view(raw).substr(0, n));
  }
  ASSERT_EQ(status, ParseStatus::complete);
  EXPECT_EQ(parser.request().body.size(), 200u * 64);
  EXPECT_LE(parser.bytes_examined(), 2 * raw.size());
}

// ---- Steady state: buffers reused, no allocation ---------------------------------------------

const std::string kBrowserRequest =
    "GET /index.html?lang=en HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: session=0123456789abcdef\r\n"
    "\r\n";

TEST(HttpRequestParserTest, HeaderVectorAndChunkBufferKeepTheirCapacityAcrossMessages) {
  RequestParser parser{Limits{}};
  std::string chunked = kChunked + "8\r\n12345678\r\n0\r\n\r\n";
  ASSERT_EQ(parser.parse(kBrowserRequest), ParseStatus::complete);
  const Header* fields = parser.request().headers.begin();
  parser.reset();
  ASSERT_EQ(parser.parse(chunked), ParseStatus::complete);
  const char* body = parser.request().body.data();
  for (int i = 0; i < 10; ++i) {
    parser.reset();
    ASSERT_EQ(parser.parse(kBrowserRequest), ParseStatus::complete);
    EXPECT_EQ(parser.request().headers.begin(), fields);
    parser.reset();
    ASSERT_EQ(parser.parse(chunked), ParseStatus::complete);
    EXPECT_EQ(parser.request().body.data(), body);
  }
}

TEST(HttpRequestParserTest, ALargeChunkedBodyIsNotKeptAfterItsMessage) {
  RequestParser parser{Limits{}};
  std::string big = kChunked + "20000\r\n" + std::string(0x20000, 'b') + "\r\n0\r\n\r\n";
  ASSERT_EQ(parser.parse(big), ParseStatus::complete);
  EXPECT_EQ(parser.request().body.size(), 0x20000u);
  parser.reset();
  std::string small = kChunked + "20\r\n" + std::string(32, 's') + "\r\n0\r\n\r\n";
  uint64_t before = tern::test::heap_allocations.load();
  ASSERT_EQ(parser.parse(small), ParseStatus::complete);
  // The released buffer is made anew, small.
  EXPECT_EQ(tern::test::heap_allocations.load() - before, 1u);
  EXPECT_EQ(parser.request().body, std::string(32, 's'));
}

TEST(HttpRequestParserTest, SteadyStateParsingAllocatesNothing) {
  RequestParser parser{Limits{}};
  std::string chunked = kChunked + "8\r\n12345678\r\n0\r\nT: 1\r\n\r\n";
  uint64_t first = tern::test::heap_allocations.load();
  ASSERT_EQ(parser.parse(kBrowserRequest), ParseStatus::complete);  // warms the buffers
  // The first request sizes the field list and the header views once each.
  EXPECT_LE(tern::test::heap_allocations.load() - first, 2u);
  parser.reset();
  ASSERT_EQ(parser.parse(chunked), ParseStatus::complete);
  uint64_t before = tern::test::heap_allocations.load();
  for (int i = 0; i < 100; ++i) {
    parser.reset();
    if (parser.parse(kBrowserRequest) != ParseStatus::complete) break;
    parser.reset();
    if (parser.parse(chunked) != ParseStatus::complete) break;
  }
  EXPECT_EQ(tern::test::heap_allocations.load() - before, 0u);
  EXPECT_EQ(parser.request().body, "12345678");
}

// ---- Responses (client side): the same machine, another start line ---------------------------

Parsed parse_response(std::string_view raw, Method method = Method::get) {
  ResponseParser parser{Limits{}};
  ParseStatus status = parser.parse(raw, method);
  Parsed p{status, parser.error(), "", parser.consumed()};
  if (status == ParseStatus::complete) p.text = describe(parser.response());
  return p;
}

TEST(HttpResponseParserTest, ContentLengthResponse) {
  Parsed p = parse_response("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP");
  ASSERT_EQ(p.status, ParseStatus::complete);
  EXPECT_EQ(p.text, "200|OK|HTTP/1.1|Content-Length=5|body=hello|keep-alive");
  EXPECT_EQ(p.consumed, 43u);
}

TEST(HttpResponseParserTest, ReasonMayBeEmptyOrAbsent) {
  EXPECT_EQ(parse_response("HTTP/1.1 204 \r\n\r\n").text, "204||HTTP/1.1|body=|keep-alive");
  EXPECT_EQ(parse_response("HTTP/1.1 204\r\n\r\n").text, "204||HTTP/1.1|body=|keep-alive");
  EXPECT_EQ(parse_response("HTTP/1.0 404 Not  Found\r\nContent-Length: 0\r\n\r\n").text,
            "404|Not  Found|HTTP/1.0|Content-Length=0|body=|close");
}

TEST(HttpResponseParserTest, InterimResponsesAreSkipped) {
  std::string raw =
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
      "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
  Parsed p = parse_response(raw);
  ASSERT_EQ(p.status, ParseStatus::complete);
  EXPECT_EQ(p.text, "201|Created|HTTP/1.1|Content-Length=2|body=ok|keep-alive");
  EXPECT_EQ(p.consumed, raw.size());
}

TEST(HttpResponseParserTest, InterimResponsesAreBoundedTogether) {
  Limits limits;
  limits.max_request_line = 64;
  limits.max_header_bytes = 64;
  std::string raw;
  for (int i = 0; i < 6; ++i) raw += "HTTP/1.1 100 Continue\r\n\r\n";  // 25 bytes each
  ResponseParser parser(limits);
  EXPECT_EQ(parser.parse(raw, Method::get), ParseStatus::error);
  EXPECT_EQ(parser.error(), make_error_code(ParseError::headers_too_large));
}

TEST(HttpResponseParserTest, SwitchingProtocolsIsFinal) {
  Parsed p = parse_response("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nraw");
  ASSERT_EQ(p.status, ParseStatus::complete);
  EXPECT_EQ(p.text, "101|Switching Protocols|HTTP/1.1|Upgrade=x|body=|keep-alive");
}

TEST(HttpResponseParserTest, NoBodyForHeadAnd204And304) {
  std::string with_length = " \r\nContent-Length: 10\r\n\r\n";
  Parsed head = parse_response("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", Method::head);
  EXPECT_EQ(head.status, ParseStatus::complete);
  EXPECT_EQ(head.text, "200|OK|HTTP/1.1|Content-Length=10|body=|keep-alive");  // no body
  EXPECT_EQ(parse_response("HTTP/1.1 304" + with_length).text,
            "304||HTTP/1.1|Content-Length=10|body=|keep-alive");
  EXPECT_EQ(parse_response("HTTP/1.1 304" + with_length).status, ParseStatus::complete);
  EXPECT_EQ(parse_response("HTTP/1.1 204" + with_length).status, ParseStatus::complete);
  EXPECT_EQ(parse_response("HTTP/1.1 200 OK\r\n\r\n", Method::connect).status,
            ParseStatus::complete);
  EXPECT_EQ(parse_response("HTTP/1.1 200" + with_length).status, ParseStatus::need_more);
}

TEST(HttpResponseParserTest, ChunkedResponse) {
  Parsed p = parse_response(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n");
  ASSERT_EQ(p.status, ParseStatus::complete);
  EXPECT_EQ(p.text, "200|OK|HTTP/1.1|Transfer-Encoding=chunked|body=abc|keep-alive");
}

TEST(HttpResponseParserTest, BodyUntilCloseCompletesAtEndOfInput) {
  ResponseParser parser{Limits{}};
  std::string raw = "HTTP/1.1 200 OK\r\n\r\nall of";
  EXPECT_EQ(parser.parse(raw, Method::get), ParseStatus::need_more);
  raw += " it";
  EXPECT_EQ(parser.parse(raw, Method::get), ParseStatus::need_more);
  MovingBuffer moved;
  ASSERT_EQ(parser.end_of_input(moved.hold(raw)), ParseStatus::complete);
  EXPECT_EQ(parser.response().body, "all of it");
  EXPECT_FALSE(parser.response().keep_alive);
  EXPECT_EQ(parser.consumed(), raw.size());
}

TEST(HttpResponseParserTest, CloseInsideAFramedMessageIsAnError) {
  for (std::string raw : {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc"s,
                          "HTTP/1.1 200 OK\r\nContent-"s, ""s,
                          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"s}) {
    ResponseParser parser{Limits{}};
    EXPECT_EQ(parser.end_of_input(raw), ParseStatus::error) << raw;
    EXPECT_EQ(parser.error(), make_error_code(ParseError::truncated_message)) << raw;
  }
}

TEST(HttpResponseParserTest, MalformedStatusLines) {
  for (std::string raw : {"HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n",
                          "HTTP/1.1 099 X\r\n\r\n", "HTTP/1.1 600 X\r\n\r\n",
                          "HTTP/1.1 200OK\r\n\r\n", "HTTP/1.1  200 OK\r\n\r\n",
                          "HTTP/1.1 2x0 OK\r\n\r\n", "http/1.1 200 OK\r\n\r\n",
                          "HTTP/1.1 200 O\x01K\r\n\r\n", "ICY 200 OK\r\n\r\n"}) {
    Parsed p = parse_response(raw);
    EXPECT_EQ(p.status, ParseStatus::error) << raw;
    EXPECT_EQ(p.error, make_error_code(ParseError::bad_status_line)) << raw;
  }
  Parsed lf = parse_response("HTTP/1.1 200 OK\n\r\n");
  EXPECT_EQ(lf.error, make_error_code(ParseError::bare_lf));
  Parsed v2 = parse_response("HTTP/2.0 200 OK\r\n\r\n");
  EXPECT_EQ(v2.error, make_error_code(ParseError::unsupported_version));
}

TEST(HttpResponseParserTest, FramingRulesAreTheRequestsRules) {
  EXPECT_EQ(parse_response("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
                .error,
            make_error_code(ParseError::bad_content_length));
  EXPECT_EQ(parse_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: "
                           "1\r\n\r\n")
                .error,
            make_error_code(ParseError::content_length_with_transfer_encoding));
  EXPECT_EQ(parse_response("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n").error,
            make_error_code(ParseError::obsolete_line_folding));
  EXPECT_EQ(parse_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nz\r\n").error,
            make_error_code(ParseError::bad_chunk));
}

TEST(HttpResponseParserTest, EverySplitPointGivesTheSameResponse) {
  std::string raw =
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
      "Server: t\r\n\r\n4;a=b\r\nabcd\r\n0\r\nT: 1\r\n\r\n";
  std::string whole = parse_response(raw).text;
  ASSERT_FALSE(whole.empty());
  for (size_t cut = 0; cut < raw.size(); ++cut) {
    ResponseParser parser{Limits{}};
    MovingBuffer buffer;
    ASSERT_EQ(parser.parse(buffer.hold(std::string_view(raw).substr(0, cut)), Method::get),
              ParseStatus::need_more)
        << cut;
    ASSERT_EQ(parser.parse(buffer.hold(raw), Method::get), ParseStatus::complete) << cut;
    EXPECT_EQ(describe(parser.response()), whole) << cut;
    EXPECT_EQ(parser.consumed(), raw.size());
  }
}

}  // namespace
}  // namespace tern::http
