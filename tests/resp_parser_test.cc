// RespParser: every RESP2 and RESP3 type, nesting, attributes, every error, the limits, and
// the incremental contract (bytes one at a time give what the whole gives, in linear work,
// from buffers that move between calls).
#include "tern/redis/resp_parser.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "counting_new.h"

namespace tern::redis {
namespace {

using Status = Decoded<Value>::Status;

// The parse of `bytes` given whole: the rendering and the bytes used, or "error: ...".
std::string whole(std::string_view bytes, RespLimits limits = {}) {
  RespParser parser(limits);
  Decoded<Value> decoded = parser.parse(bytes);
  switch (decoded.status) {
    case Status::need_more: return "need more";
    case Status::invalid: return "error: " + decoded.error.message();
    case Status::message: break;
  }
  return decoded.request.to_string() + " [" + std::to_string(decoded.consumed) + "]";
}

// The same bytes, one more byte per call, each call on a fresh heap copy of exactly the bytes
// available (the old copy freed first): a view kept from an earlier call reads freed memory,
// which ASan reports, and a wrong offset shows in the rendering.
std::string bytewise(std::string_view bytes, RespLimits limits = {}) {
  RespParser parser(limits);
  std::unique_ptr<char[]> copy;
  for (size_t n = 1; n <= bytes.size(); ++n) {
    copy.reset();
    copy = std::make_unique<char[]>(n);
    std::memcpy(copy.get(), bytes.data(), n);
    Decoded<Value> decoded = parser.parse(std::string_view(copy.get(), n));
    if (decoded.status == Status::invalid) return "error: " + decoded.error.message();
    if (decoded.status == Status::message) {
      return decoded.request.to_string() + " [" + std::to_string(decoded.consumed) + "]";
    }
  }
  return "need more";
}

std::string error_text(resp_errc e) { return "error: " + make_error_code(e).message(); }

// Parses `bytes` whole and expects one message using all of them; the value is valid while
// the parser lives (the test keeps both).
struct Parsed {
  RespParser parser;
  Value value;
  explicit Parsed(std::string_view bytes, RespLimits limits = {}) : parser(limits) {
    Decoded<Value> decoded = parser.parse(bytes);
    EXPECT_EQ(decoded.status, Status::message) << bytes;
    EXPECT_EQ(decoded.consumed, bytes.size()) << bytes;
    value = decoded.request;
  }
};

// Every sample: one value, and the bytewise parse agrees with the whole parse.
const std::vector<std::string> kSamples = {
    "+OK\r\n",
    "-ERR unknown command 'FOO'\r\n",
    ":0\r\n", ":-42\r\n", ":+7\r\n", ":9223372036854775807\r\n", ":-9223372036854775808\r\n",
    "$5\r\nhello\r\n", "$0\r\n\r\n", "$4\r\na\r\nb\r\n", "$-1\r\n",
    "*0\r\n", "*-1\r\n", "*2\r\n$3\r\nfoo\r\n:1\r\n",
    "*3\r\n*2\r\n:1\r\n*2\r\n:2\r\n:3\r\n%1\r\n+a\r\n*1\r\n+x\r\n~0\r\n",
    "_\r\n", ",1.5\r\n", ",-0.25\r\n", ",inf\r\n", ",-inf\r\n", ",nan\r\n", ",3\r\n",
    "#t\r\n", "#f\r\n", "(3492890328409238509324850943850943825024385\r\n", "(-12\r\n",
    "!21\r\nSYNTAX invalid syntax\r\n", "=15\r\ntxt:Some string\r\n", "=4\r\nmkd:\r\n",
    "%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n", "~3\r\n:1\r\n:2\r\n:3\r\n",
    ">3\r\n$7\r\nmessage\r\n$4\r\nchan\r\n$5\r\nhello\r\n",
    "|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.19\r\n$1\r\nb\r\n,0.05\r\n*2\r\n:2039123\r\n:9543892\r\n",
    "*2\r\n|1\r\n+ttl\r\n:3600\r\n:1\r\n:2\r\n",
    "|0\r\n+OK\r\n",
};

TEST(RespParserTest, EverySampleParsesWholeAndUsesAllItsBytes) {
  for (const std::string& sample : kSamples) {
    std::string result = whole(sample);
    EXPECT_EQ(result.substr(result.rfind(" [")), " [" + std::to_string(sample.size()) + "]")
        << sample;
  }
}

TEST(RespParserTest, ByteAtATimeGivesWhatTheWholeGives) {
  for (const std::string& sample : kSamples) {
    EXPECT_EQ(bytewise(sample), whole(sample)) << sample;
  }
}

TEST(RespParserTest, EveryPrefixOfAValueNeedsMore) {
  for (const std::string& sample : kSamples) {
    for (size_t n = 0; n < sample.size(); ++n) {
      EXPECT_EQ(whole(std::string_view(sample).substr(0, n)), "need more") << sample << " at " << n;
    }
  }
}

TEST(RespParserTest, Resp2Scalars) {
  Parsed ok("+OK\r\n");
  EXPECT_EQ(ok.value.type, Type::simple_string);
  EXPECT_EQ(ok.value.text, "OK");
  Parsed error("-WRONGTYPE Operation against a key\r\n");
  EXPECT_EQ(error.value.type, Type::error);
  EXPECT_TRUE(error.value.is_error());
  EXPECT_EQ(error.value.text, "WRONGTYPE Operation against a key");
  Parsed number(":-9223372036854775808\r\n");
  EXPECT_EQ(number.value.type, Type::integer);
  EXPECT_EQ(number.value.integer, std::numeric_limits<int64_t>::min());
  Parsed plus(":+7\r\n");
  EXPECT_EQ(plus.value.integer, 7);
  std::string binary("$6\r\na\r\n\0b\r\r\n", 12);
  Parsed binary_bulk(binary);
  EXPECT_EQ(binary_bulk.value.type, Type::bulk_string);
  EXPECT_EQ(binary_bulk.value.text, std::string_view("a\r\n\0b\r", 6));
  Parsed empty("$0\r\n\r\n");
  EXPECT_EQ(empty.value.type, Type::bulk_string);
  EXPECT_EQ(empty.value.text, "");
  Parsed null_bulk("$-1\r\n");
  EXPECT_TRUE(null_bulk.value.is_null());
  Parsed null_array("*-1\r\n");
  EXPECT_TRUE(null_array.value.is_null());
}

TEST(RespParserTest, Resp3Scalars) {
  Parsed null("_\r\n");
  EXPECT_EQ(null.value.type, Type::null);
  Parsed real(",-1.25e2\r\n");
  EXPECT_EQ(real.value.type, Type::double_);
  EXPECT_EQ(real.value.number, -125.0);
  EXPECT_EQ(real.value.text, "-1.25e2");
  Parsed infinity(",inf\r\n");
  EXPECT_TRUE(std::isinf(infinity.value.number));
  EXPECT_GT(infinity.value.number, 0);
  Parsed minus_infinity(",-inf\r\n");
  EXPECT_LT(minus_infinity.value.number, 0);
  EXPECT_TRUE(std::isinf(minus_infinity.value.number));
  Parsed not_a_number(",nan\r\n");
  EXPECT_TRUE(std::isnan(not_a_number.value.number));
  Parsed yes("#t\r\n"), no("#f\r\n");
  EXPECT_EQ(yes.value.type, Type::boolean);
  EXPECT_EQ(yes.value.integer, 1);
  EXPECT_EQ(no.value.integer, 0);
  Parsed big("(-3492890328409238509324850943850943825024385\r\n");
  EXPECT_EQ(big.value.type, Type::big_number);
  EXPECT_EQ(big.value.text, "-3492890328409238509324850943850943825024385");
  Parsed bulk_error("!21\r\nSYNTAX invalid syntax\r\n");
  EXPECT_EQ(bulk_error.value.type, Type::bulk_error);
  EXPECT_TRUE(bulk_error.value.is_error());
  EXPECT_EQ(bulk_error.value.text, "SYNTAX invalid syntax");
  Parsed verbatim("=15\r\ntxt:Some string\r\n");
  EXPECT_EQ(verbatim.value.type, Type::verbatim_string);
  EXPECT_EQ(verbatim.value.text, "Some string");
  Parsed empty_verbatim("=4\r\nmkd:\r\n");
  EXPECT_EQ(empty_verbatim.value.text, "");
}

TEST(RespParserTest, Resp3Aggregates) {
  Parsed map("%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n");
  ASSERT_EQ(map.value.type, Type::map);
  ASSERT_EQ(map.value.elements.size(), 4u);  // key, value, key, value
  EXPECT_EQ(map.value.elements[0].text, "first");
  EXPECT_EQ(map.value.elements[1].integer, 1);
  EXPECT_EQ(map.value.elements[2].text, "second");
  EXPECT_EQ(map.value.elements[3].integer, 2);
  Parsed set("~2\r\n+a\r\n+b\r\n");
  ASSERT_EQ(set.value.type, Type::set);
  ASSERT_EQ(set.value.elements.size(), 2u);
  EXPECT_EQ(set.value.elements[1].text, "b");
  Parsed push(">2\r\n+invalidate\r\n*1\r\n$3\r\nkey\r\n");
  ASSERT_EQ(push.value.type, Type::push);
  ASSERT_EQ(push.value.elements.size(), 2u);
  EXPECT_EQ(push.value.elements[1].elements[0].text, "key");
  EXPECT_EQ(map.value.to_string(), "{first: (integer) 1, second: (integer) 2}");
}

TEST(RespParserTest, NestedAggregatesKeepTheirElementsInOrder) {
  // [1, [2, [3, 4], 5], {k: [x, y]}, [], "end"]
  Parsed nested(
      "*5\r\n:1\r\n*3\r\n:2\r\n*2\r\n:3\r\n:4\r\n:5\r\n%1\r\n+k\r\n*2\r\n+x\r\n+y\r\n*0\r\n"
      "$3\r\nend\r\n");
  const Value& v = nested.value;
  ASSERT_EQ(v.type, Type::array);
  ASSERT_EQ(v.elements.size(), 5u);
  EXPECT_EQ(v.elements[0].integer, 1);
  const Value& middle = v.elements[1];
  ASSERT_EQ(middle.elements.size(), 3u);
  EXPECT_EQ(middle.elements[0].integer, 2);
  ASSERT_EQ(middle.elements[1].elements.size(), 2u);
  EXPECT_EQ(middle.elements[1].elements[0].integer, 3);
  EXPECT_EQ(middle.elements[1].elements[1].integer, 4);
  EXPECT_EQ(middle.elements[2].integer, 5);
  const Value& map = v.elements[2];
  ASSERT_EQ(map.type, Type::map);
  EXPECT_EQ(map.elements[0].text, "k");
  EXPECT_EQ(map.elements[1].elements[1].text, "y");
  EXPECT_EQ(v.elements[3].type, Type::array);
  EXPECT_TRUE(v.elements[3].elements.empty());
  EXPECT_EQ(v.elements[4].text, "end");
  EXPECT_EQ(v.to_string(),
            "[(integer) 1, [(integer) 2, [(integer) 3, (integer) 4], (integer) 5], "
            "{k: [x, y]}, [], \"end\"]");
}

TEST(RespParserTest, AttributesAreParsedAndDropped) {
  std::string top = "|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*2\r\n:1\r\n:2\r\n";
  Parsed at_top(top);
  EXPECT_EQ(at_top.value.to_string(), "[(integer) 1, (integer) 2]");
  // Inside an aggregate: not an element, and its nested aggregate leaves no node behind.
  Parsed inside("*2\r\n|1\r\n+ttl\r\n*1\r\n:3600\r\n:1\r\n*1\r\n:2\r\n");
  EXPECT_EQ(inside.value.to_string(), "[(integer) 1, [(integer) 2]]");
}

TEST(RespParserTest, TextViewsTheInput) {
  std::string bytes = "*2\r\n$3\r\nfoo\r\n+bar\r\n";
  Parsed parsed(bytes);
  const char* begin = bytes.data();
  const char* end = bytes.data() + bytes.size();
  for (const Value& element : parsed.value.elements) {
    EXPECT_GE(element.text.data(), begin);
    EXPECT_LE(element.text.data() + element.text.size(), end);
  }
  EXPECT_EQ(parsed.value.elements[0].text.data(), begin + 8);
}

TEST(RespParserTest, PipelinedValuesParseOneAfterTheOther) {
  std::string bytes = "+OK\r\n:5\r\n$3\r\nabc\r\n";
  RespParser parser;
  std::vector<std::string> seen;
  std::string_view rest = bytes;
  while (!rest.empty()) {
    Decoded<Value> decoded = parser.parse(rest);
    ASSERT_EQ(decoded.status, Status::message);
    seen.push_back(decoded.request.to_string());
    rest.remove_prefix(decoded.consumed);
    parser.reset();
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"OK", "(integer) 5", "\"abc\""}));
}

struct ErrorCase {
  std::string bytes;
  resp_errc error;
};

// Every resp_errc, each from bytes that show it and nothing else.
const std::vector<ErrorCase> kErrors = {
    {"?x\r\n", resp_errc::bad_type},
    {"\r\n", resp_errc::bad_type},
    {"*1\r\nx\r\n", resp_errc::bad_type},
    {"$abc\r\n", resp_errc::bad_length},
    {"$-2\r\n", resp_errc::bad_length},
    {"$\r\n", resp_errc::bad_length},
    {"$?\r\n", resp_errc::bad_length},
    {"*-1x\r\n", resp_errc::bad_length},
    {"%-1\r\n", resp_errc::bad_length},
    {"=3\r\ntxt\r\n", resp_errc::bad_length},
    {"=5\r\ntxt-x\r\n", resp_errc::bad_length},
    {":12a\r\n", resp_errc::bad_number},
    {":\r\n", resp_errc::bad_number},
    {":+-1\r\n", resp_errc::bad_number},
    {":99999999999999999999\r\n", resp_errc::bad_number},
    {",1.5x\r\n", resp_errc::bad_number},
    {",\r\n", resp_errc::bad_number},
    {"#x\r\n", resp_errc::bad_number},
    {"(12x\r\n", resp_errc::bad_number},
    {"+OK\n", resp_errc::bad_line_end},
    {"+OK\rx", resp_errc::bad_line_end},
    {"$3\r\nfooXY", resp_errc::bad_line_end},
    {"_x\r\n", resp_errc::bad_line_end},
};

TEST(RespParserTest, EveryMalformedInputFailsWithItsError) {
  for (const ErrorCase& c : kErrors) {
    EXPECT_EQ(whole(c.bytes), error_text(c.error)) << c.bytes;
    EXPECT_EQ(bytewise(c.bytes), error_text(c.error)) << c.bytes;
  }
}

TEST(RespParserTest, AFailedParserStaysFailedUntilReset) {
  RespParser parser;
  EXPECT_EQ(parser.parse("?").status, Status::invalid);
  EXPECT_EQ(parser.parse("?+OK\r\n").error, make_error_code(resp_errc::bad_type));
  parser.reset();
  EXPECT_EQ(parser.parse("+OK\r\n").status, Status::message);
}

TEST(RespParserTest, BulkLimit) {
  RespLimits limits;
  limits.max_bulk = 4;
  EXPECT_EQ(whole("$4\r\nabcd\r\n", limits), "\"abcd\" [10]");
  EXPECT_EQ(whole("$5\r\nabcde\r\n", limits), error_text(resp_errc::too_large));
  // Refused at the header: the payload is never waited for.
  EXPECT_EQ(whole("$5\r\n", limits), error_text(resp_errc::too_large));
  EXPECT_EQ(whole("!5\r\n", limits), error_text(resp_errc::too_large));
  EXPECT_EQ(whole("=9\r\n", limits), error_text(resp_errc::too_large));
  EXPECT_EQ(whole("$99999999999999999999999999\r\n"), error_text(resp_errc::too_large));
}

TEST(RespParserTest, ElementLimit) {
  RespLimits limits;
  limits.max_elements = 4;
  EXPECT_EQ(whole("*4\r\n:1\r\n:2\r\n:3\r\n:4\r\n", limits).substr(0, 1), "[");
  EXPECT_EQ(whole("*5\r\n", limits), error_text(resp_errc::too_many_elements));
  EXPECT_EQ(whole("~5\r\n", limits), error_text(resp_errc::too_many_elements));
  EXPECT_EQ(whole(">5\r\n", limits), error_text(resp_errc::too_many_elements));
  // A map of N pairs has 2N elements.
  EXPECT_EQ(whole("%2\r\n:1\r\n:2\r\n:3\r\n:4\r\n", limits).substr(0, 1), "{");
  EXPECT_EQ(whole("%3\r\n", limits), error_text(resp_errc::too_many_elements));
  EXPECT_EQ(whole("|3\r\n", limits), error_text(resp_errc::too_many_elements));
  EXPECT_EQ(whole("*99999999999999999999999999\r\n"), error_text(resp_errc::too_many_elements));
}

std::string nested_arrays(size_t depth) {
  std::string bytes;
  for (size_t i = 0; i < depth; ++i) bytes += "*1\r\n";
  return bytes + ":1\r\n";
}

TEST(RespParserTest, DepthLimit) {
  RespLimits limits;
  limits.max_depth = 3;
  EXPECT_EQ(whole(nested_arrays(3), limits), "[[[(integer) 1]]] [16]");
  EXPECT_EQ(whole(nested_arrays(4), limits), error_text(resp_errc::too_deep));
  EXPECT_EQ(bytewise(nested_arrays(4), limits), error_text(resp_errc::too_deep));
  EXPECT_EQ(whole(nested_arrays(33)), error_text(resp_errc::too_deep));  // the default, 32
  EXPECT_EQ(whole(nested_arrays(32)).substr(0, 1), "[");
}

TEST(RespParserTest, LineLimit) {
  RespLimits limits;
  limits.max_line = 4;
  EXPECT_EQ(whole("+abcd\r\n", limits), "abcd [7]");
  EXPECT_EQ(whole("+abcde\r\n", limits), error_text(resp_errc::line_too_long));
  // Decided on the first byte past the limit: no terminator is waited for.
  EXPECT_EQ(whole("-abcde", limits), error_text(resp_errc::line_too_long));
  EXPECT_EQ(whole("+abcd", limits), "need more");
  EXPECT_EQ(whole("+abcd\r", limits), "need more");
  // The same for a length line, and however the bytes arrive.
  EXPECT_EQ(whole("$12345\r\n", limits), error_text(resp_errc::line_too_long));
  EXPECT_EQ(bytewise("+abcde\r\n", limits), error_text(resp_errc::line_too_long));
  // A bare LF past the limit is still "too long": the limit is reached first either way.
  EXPECT_EQ(whole("+abcde\n", limits), error_text(resp_errc::line_too_long));
}

std::string array_of(size_t n, std::vector<size_t>* element_ends) {
  std::string bytes = "*" + std::to_string(n) + "\r\n";
  for (size_t i = 0; i < n; ++i) {
    bytes += "$5\r\nvalue\r\n";
    if (element_ends != nullptr) element_ends->push_back(bytes.size());
  }
  return bytes;
}

// An N-element array fed one element per call: the parser resumes after the last element it
// read instead of starting the array again, so its work grows with N, not N squared. The same
// array whole is the yardstick: fed in N pieces it may cost one step per call more, no more.
TEST(RespParserTest, AnArrayFedInPiecesIsParsedInLinearWork) {
  for (size_t n : {1000u, 10000u}) {
    std::vector<size_t> ends;
    std::string bytes = array_of(n, &ends);
    RespParser once;
    ASSERT_EQ(once.parse(bytes).status, Status::message);
    uint64_t whole_steps = once.steps();
    EXPECT_LE(whole_steps, 2 * bytes.size());

    RespParser pieces;
    Decoded<Value> decoded;
    for (size_t end : ends) {
      decoded = pieces.parse(std::string_view(bytes).substr(0, end));
    }
    ASSERT_EQ(decoded.status, Status::message);
    EXPECT_EQ(decoded.request.elements.size(), n);
    EXPECT_LE(pieces.steps(), whole_steps + 2 * ends.size()) << n << " elements";
  }
}

TEST(RespParserTest, ALongLineFedByteByByteIsScannedOnce) {
  std::string bytes = "+" + std::string(20000, 'x') + "\r\n";
  RespParser parser;
  Decoded<Value> decoded;
  for (size_t n = 1; n <= bytes.size(); ++n) {
    decoded = parser.parse(std::string_view(bytes).substr(0, n));
  }
  ASSERT_EQ(decoded.status, Status::message);
  EXPECT_EQ(decoded.request.text.size(), 20000u);
  EXPECT_LE(parser.steps(), 3 * bytes.size());
}

TEST(RespParserTest, ABulkPayloadFedByteByByteIsNotScanned) {
  std::string bytes = "$20000\r\n" + std::string(20000, 'x') + "\r\n";
  RespParser parser;
  for (size_t n = 1; n <= bytes.size(); ++n) parser.parse(std::string_view(bytes).substr(0, n));
  EXPECT_LE(parser.steps(), bytes.size() + 64);  // about one step per call
}

TEST(RespParserTest, SteadyStateRepliesAllocateNothing) {
  std::string bytes = "*3\r\n$3\r\nfoo\r\n*2\r\n:1\r\n:2\r\n%1\r\n+a\r\n+b\r\n";
  RespParser parser;
  ASSERT_EQ(parser.parse(bytes).status, Status::message);  // storage grows once
  uint64_t before = test::heap_allocations.load();
  for (int i = 0; i < 100; ++i) {
    parser.reset();
    Decoded<Value> decoded = parser.parse(bytes);
    ASSERT_EQ(decoded.status, Status::message);
  }
  EXPECT_EQ(test::heap_allocations.load(), before);
}

TEST(RespParserTest, ResetReleasesTheStorageOfAHugeReply) {
  // After one reply of many nodes, a small reply still works and the huge storage is dropped
  // (observed as: the next huge reply allocates again).
  std::string huge = "*" + std::to_string(RespParser::kKeptNodes * 2) + "\r\n";
  for (size_t i = 0; i < RespParser::kKeptNodes * 2; ++i) huge += "*1\r\n:1\r\n";
  RespParser parser;
  ASSERT_EQ(parser.parse(huge).status, Status::message);
  parser.reset();
  ASSERT_EQ(parser.parse("+OK\r\n").status, Status::message);
  parser.reset();
  uint64_t before = test::heap_allocations.load();
  ASSERT_EQ(parser.parse(huge).status, Status::message);
  EXPECT_GT(test::heap_allocations.load(), before);
}

TEST(RespParserTest, TypeNames) {
  EXPECT_STREQ(type_name(Type::double_), "double");
  EXPECT_STREQ(type_name(Type::verbatim_string), "verbatim_string");
  EXPECT_STREQ(type_name(Type::push), "push");
}

}  // namespace
}  // namespace tern::redis
