#include "tern/codec/codec.h"

#include <gtest/gtest.h>

#include "tern/base/error.h"

namespace tern {
namespace {

std::optional<Frame> decode_ok(const Codec& codec, std::string_view input) {
  auto frame = codec.decode(input);
  EXPECT_TRUE(frame.ok()) << frame.error().message();
  return frame.ok() ? frame.value() : std::nullopt;
}

TEST(CodecTest, LineFramesEndAtNewline) {
  Codec codec(Framing::line, 16);
  EXPECT_FALSE(decode_ok(codec, ""));
  EXPECT_FALSE(decode_ok(codec, "abc"));
  auto frame = decode_ok(codec, "abc\r\nrest");
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->message, "abc\r");  // '\r' is the message's business
  EXPECT_EQ(frame->consumed, 5u);
  frame = decode_ok(codec, "\nx");
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->message, "");
  EXPECT_EQ(frame->consumed, 1u);
}

TEST(CodecTest, LineLongerThanTheLimitIsAnError) {
  Codec codec(Framing::line, 4);
  EXPECT_TRUE(decode_ok(codec, "1234\n"));
  EXPECT_EQ(codec.decode("12345\n").error(), make_error_code(errc::message_too_large));
  // Known too long before the newline arrives: no need to buffer more.
  EXPECT_EQ(codec.decode("12345").error(), make_error_code(errc::message_too_large));
}

TEST(CodecTest, LengthPrefixedRoundTripsAnyBytes) {
  Codec codec(Framing::length_prefixed, 1 << 20);
  std::string message;
  for (int i = 0; i < 70000; ++i) message.push_back(static_cast<char>(i * 7));
  std::string wire;
  codec.encode(message, wire);
  codec.encode("", wire);
  ASSERT_EQ(wire.size(), 4 + message.size() + 4);
  EXPECT_EQ(static_cast<uint8_t>(wire[1]), 0x01);  // 70000 = 0x00011170, big-endian
  // Every prefix of the first frame is incomplete, not an error.
  for (size_t n : {0, 1, 3, 4, 100, 70003}) EXPECT_FALSE(decode_ok(codec, std::string_view(wire).substr(0, n))) << n;
  auto frame = decode_ok(codec, wire);
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->message, message);
  EXPECT_EQ(frame->consumed, 4 + message.size());
  frame = decode_ok(codec, std::string_view(wire).substr(frame->consumed));
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->message, "");
}

TEST(CodecTest, LengthPrefixedRefusesOversizedLengthBeforeTheBody) {
  Codec codec(Framing::length_prefixed, 100);
  std::string wire("\x00\x00\x00\x65", 4);  // 101
  EXPECT_EQ(codec.decode(wire).error(), make_error_code(errc::message_too_large));
}

TEST(CodecTest, RawTakesWhatIsThereUpToTheLimit) {
  Codec codec(Framing::raw, 3);
  EXPECT_FALSE(decode_ok(codec, ""));
  auto frame = decode_ok(codec, "abcde");
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->message, "abc");
  std::string out;
  codec.encode("xyz", out);
  EXPECT_EQ(out, "xyz");
}

TEST(CodecTest, NamesParse) {
  EXPECT_EQ(parse_framing("line"), Framing::line);
  EXPECT_EQ(parse_framing("length"), Framing::length_prefixed);
  EXPECT_EQ(parse_framing("raw"), Framing::raw);
  EXPECT_FALSE(parse_framing("http"));
  EXPECT_STREQ(framing_name(Framing::length_prefixed), "length");
}

}  // namespace
}  // namespace tern
