// The built-in framings and the docs' memcached example as protocols on the seam: the same
// requests whatever way the bytes are split (every split point of a corpus, and one byte at a
// time, as a slow peer sends them), the message limit, and the client side of a framing.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "memcache_protocol.h"
#include "tern/codec/codec.h"
#include "tern/protocol/framing.h"

namespace tern {
namespace {

// Feeds `wire` to a fresh protocol in the pieces `cuts` makes, the way Session does: the
// unconsumed input (starting at the current message) plus what arrived, decoded until
// need_more. Returns each request turned into text by `show`, or "invalid" and stops.
template <class P, class Show>
std::vector<std::string> decode_all(const typename P::Options& options, const std::string& wire,
                                    const std::vector<size_t>& cuts, Show show) {
  P protocol(options);
  std::vector<std::string> got;
  std::string input;
  size_t from = 0;
  auto feed = [&](size_t to) {
    input.append(wire, from, to - from);
    from = to;
    for (;;) {
      auto decoded = protocol.decode(input);
      if (decoded.status == Decoded<typename P::Request>::Status::need_more) return true;
      if (decoded.status == Decoded<typename P::Request>::Status::invalid) {
        got.push_back("invalid");
        return false;
      }
      got.push_back(show(decoded.request));
      input.erase(0, decoded.consumed);
    }
  };
  for (size_t cut : cuts) {
    if (!feed(cut)) return got;
  }
  feed(wire.size());
  return got;
}

template <class P, class Show>
void expect_same_at_every_split(const typename P::Options& options, const std::string& wire,
                                const std::vector<std::string>& expected, Show show) {
  EXPECT_EQ((decode_all<P>(options, wire, {}, show)), expected) << "whole";
  for (size_t cut = 0; cut <= wire.size(); ++cut) {
    EXPECT_EQ((decode_all<P>(options, wire, {cut}, show)), expected) << "split at " << cut;
  }
  std::vector<size_t> every_byte;
  for (size_t i = 1; i <= wire.size(); ++i) every_byte.push_back(i);
  EXPECT_EQ((decode_all<P>(options, wire, every_byte, show)), expected) << "byte at a time";
}

std::string text(std::string_view view) { return std::string(view); }

TEST(FramingTest, LineMessagesAtEverySplitPoint) {
  FramingOptions options;
  expect_same_at_every_split<LineProtocol>(options, "one\ntwo\r\n\nlast one\n",
                                           {"one", "two\r", "", "last one"}, text);
}

TEST(FramingTest, LengthPrefixedMessagesAtEverySplitPoint) {
  FramingOptions options;
  std::string wire;
  std::vector<std::string> messages = {"a", "", std::string(300, 'x'), "end"};
  for (const auto& m : messages) Codec(Framing::length_prefixed).encode(m, wire);
  expect_same_at_every_split<LengthPrefixedProtocol>(options, wire, messages, text);
}

TEST(FramingTest, MessageLimitIsEnforcedBeforeTheWholeMessageArrives) {
  FramingOptions options{8, {}};
  // A line longer than the limit is refused as soon as the limit is passed, without its '\n'.
  EXPECT_EQ((decode_all<LineProtocol>(options, "123456789", {}, text)),
            std::vector<std::string>{"invalid"});
  // A length prefix over the limit is refused from its 4 bytes alone.
  std::string wire = Codec(Framing::length_prefixed, 1 << 20).encode_to_string(std::string(9, 'y'));
  EXPECT_EQ((decode_all<LengthPrefixedProtocol>(options, wire.substr(0, 4), {}, text)),
            std::vector<std::string>{"invalid"});
}

TEST(FramingTest, ClientSideEncodesAndDecodesTheSameFraming) {
  FramingOptions options;
  LineClient client(options);
  Output out;
  client.encode_request("ping", out);
  ASSERT_EQ(out.piece_count(), 2u);
  EXPECT_EQ(std::string(out.piece(0)) + std::string(out.piece(1)), "ping\n");
  auto decoded = client.decode_response("pong\nrest");
  ASSERT_EQ(decoded.status, Decoded<std::string_view>::Status::message);
  EXPECT_EQ(decoded.request, "pong");
  EXPECT_EQ(decoded.consumed, 5u);
}

std::string show_memcache(const memcache::Request& r) {
  const char* names[] = {"get", "set", "delete", "quit"};
  return std::string(names[static_cast<int>(r.command)]) + " " + std::string(r.key) +
         (r.value.empty() ? "" : "=" + std::string(r.value));
}

TEST(FramingTest, CustomProtocolAtEverySplitPoint) {
  memcache::Protocol::Options options;
  std::string wire = "set k 0 0 5\r\nhello\r\nget k\r\ndelete k\r\nset other 1 2 3\r\nabc\r\nquit\r\n";
  expect_same_at_every_split<memcache::Protocol>(
      options, wire, {"set k=hello", "get k", "delete k", "set other=abc", "quit "},
      show_memcache);
}

}  // namespace
}  // namespace tern
