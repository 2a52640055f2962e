// http::BodyDecoder alone (bytes in, pieces out) and ClientProtocol's streamed responses
// through it: Content-Length, chunked (split anywhere, extensions, trailers) and until-close
// bodies give back exactly the body, every byte consumed as it is decoded; framing errors are
// errors; a small body with a sink is still answered whole.
#include "tern/http/body_decoder.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "tern/http/client_protocol.h"
#include "tern/http/response_sink.h"

namespace tern::http {
namespace {

using Status = BodyDecoder::Step::Status;

// Feeds `wire` in pieces of `split` bytes (the caller's input keeps what was not consumed) and
// gathers the body. nullopt on an error; `ended` says whether the body completed.
std::optional<std::string> decode(BodyDecoder& decoder, std::string_view wire, size_t split,
                                  bool& ended, std::error_code* error = nullptr) {
  std::string body;
  std::string input;
  ended = false;
  for (size_t at = 0; at < wire.size() && !ended; at += split) {
    input.append(wire.substr(at, split));
    while (true) {
      BodyDecoder::Step step = decoder.next(input);
      if (step.status == Status::invalid) {
        if (error) *error = step.error;
        return std::nullopt;
      }
      body.append(step.piece);
      input.erase(0, step.consumed);
      if (step.status == Status::complete) {
        ended = true;
        break;
      }
      if (step.status == Status::more_input) break;
    }
  }
  return body;
}

TEST(BodyDecoderTest, ContentLengthBodyEndsAtItsLength) {
  for (size_t split : {1u, 3u, 100u}) {
    BodyDecoder decoder;
    decoder.start(BodyDecoder::Framing::length, 11, Limits{});
    bool ended = false;
    auto body = decode(decoder, "hello worldNEXT", split, ended);
    ASSERT_TRUE(body);
    EXPECT_TRUE(ended);
    EXPECT_EQ(*body, "hello world") << split;
  }
}

TEST(BodyDecoderTest, ChunkedBodySplitAnywhereIsDechunked) {
  const std::string wire =
      "5;name=value\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n";
  for (size_t split = 1; split <= wire.size(); ++split) {
    BodyDecoder decoder;
    decoder.start(BodyDecoder::Framing::chunked, 0, Limits{});
    bool ended = false;
    auto body = decode(decoder, wire, split, ended);
    ASSERT_TRUE(body) << split;
    EXPECT_TRUE(ended) << split;
    EXPECT_EQ(*body, "hello 0123456789") << split;
  }
}

TEST(BodyDecoderTest, ChunkedFramingErrorsAreErrors) {
  struct Case {
    const char* wire;
    ParseError error;
  };
  const Case cases[] = {
      {"zz\r\nhello\r\n0\r\n\r\n", ParseError::bad_chunk},
      {"5\nhello\r\n0\r\n\r\n", ParseError::bare_lf},
      {"5\r\nhelloXY0\r\n\r\n", ParseError::bad_chunk},
      {"5 junk\r\nhello\r\n0\r\n\r\n", ParseError::bad_chunk},
      {"11111111111111111\r\n", ParseError::bad_chunk},
      {"0\r\nno colon\r\n\r\n", ParseError::bad_field_value},
  };
  for (const Case& c : cases) {
    BodyDecoder decoder;
    decoder.start(BodyDecoder::Framing::chunked, 0, Limits{});
    bool ended = false;
    std::error_code error;
    EXPECT_FALSE(decode(decoder, c.wire, 64, ended, &error)) << c.wire;
    EXPECT_EQ(error, make_error_code(c.error)) << c.wire;
  }
}

TEST(BodyDecoderTest, ALongChunkLineIsRefusedBeforeItsEnd) {
  Limits limits;
  limits.max_chunk_line = 16;
  BodyDecoder decoder;
  decoder.start(BodyDecoder::Framing::chunked, 0, limits);
  std::string line = "5;" + std::string(40, 'x');  // no line end yet
  EXPECT_EQ(decoder.next(line).status, Status::invalid);
}

TEST(BodyDecoderTest, UntilCloseBodyCompletesAtTheClose) {
  BodyDecoder decoder;
  decoder.start(BodyDecoder::Framing::until_close, 0, Limits{});
  BodyDecoder::Step step = decoder.next("some");
  EXPECT_EQ(step.status, Status::progress);
  EXPECT_EQ(step.piece, "some");
  step = decoder.finish_at_close(" more");
  EXPECT_EQ(step.status, Status::complete);
  EXPECT_EQ(step.piece, " more");

  BodyDecoder cut;
  cut.start(BodyDecoder::Framing::length, 10, Limits{});
  cut.next("12345");
  EXPECT_EQ(cut.finish_at_close("").error, make_error_code(ParseError::truncated_message));
}

// A sink that keeps what it is given and declines more after `pause_after` pieces.
class RecordingSink final : public ResponseSink {
 public:
  explicit RecordingSink(uint64_t threshold) : threshold_(threshold) {}
  uint64_t stream_above() const noexcept override { return threshold_; }
  void on_head(const ParsedResponse& head, std::optional<uint64_t> length,
               ReadControl&) override {
    status = head.status;
    this->length = length;
    heads += 1;
  }
  bool on_body(std::string_view piece) override {
    body.append(piece);
    return ++pieces < pause_after;
  }
  int status = 0;
  int heads = 0;
  std::optional<uint64_t> length;
  std::string body;
  size_t pieces = 0;
  size_t pause_after = 1000;

 private:
  uint64_t threshold_;
};

class NoControl final : public ReadControl {
 public:
  void resume_reading() override {}
  void abort(std::error_code) override {}
};

// Runs the protocol as the pipeline does: input kept, consumed bytes dropped.
struct ProtocolRig {
  ClientProtocolOptions options;
  ClientProtocol protocol{options};
  NoControl control;
  std::string input;
  ProtocolRig() { protocol.attach(control); }
  void send(ClientRequest request) {
    Output out;
    protocol.encode_request(std::move(request), out);
  }
  Decoded<ParsedResponse> feed(std::string_view bytes) {
    input.append(bytes);
    Decoded<ParsedResponse> decoded = protocol.decode_response(input);
    input.erase(0, decoded.consumed);
    return decoded;
  }
};

TEST(ClientProtocolStreamingTest, ALargeBodyGoesToTheSinkAndIsConsumedAsItComes) {
  ProtocolRig rig;
  RecordingSink sink(4);
  ClientRequest request = ClientRequest::get("/large");
  request.sink = &sink;
  rig.send(std::move(request));
  auto decoded = rig.feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123");
  EXPECT_EQ(decoded.status, Decoded<ParsedResponse>::Status::need_more);
  EXPECT_TRUE(rig.input.empty());  // head and body piece consumed: nothing gathered
  EXPECT_EQ(sink.heads, 1);
  EXPECT_EQ(sink.length, 10u);
  EXPECT_EQ(sink.body, "0123");
  decoded = rig.feed("456789HTTP/1.1");
  EXPECT_EQ(decoded.status, Decoded<ParsedResponse>::Status::message);
  EXPECT_EQ(decoded.request.status, 200);
  EXPECT_TRUE(decoded.request.keep_alive);
  EXPECT_EQ(sink.body, "0123456789");
  EXPECT_EQ(rig.input, "HTTP/1.1");  // the next response's bytes stay
}

TEST(ClientProtocolStreamingTest, ASinkThatDeclinesMorePausesReading) {
  ProtocolRig rig;
  RecordingSink sink(0);
  sink.pause_after = 1;
  ClientRequest request = ClientRequest::get("/chunks");
  request.sink = &sink;
  rig.send(std::move(request));
  auto decoded = rig.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n");
  EXPECT_EQ(decoded.status, Decoded<ParsedResponse>::Status::need_more);
  EXPECT_TRUE(rig.protocol.reading_paused());
  EXPECT_EQ(sink.body, "abc");
  EXPECT_EQ(sink.length, std::nullopt);
  rig.protocol.resume();
  sink.pause_after = 1000;
  decoded = rig.feed("0\r\n\r\n");
  EXPECT_EQ(decoded.status, Decoded<ParsedResponse>::Status::message);
  EXPECT_FALSE(rig.protocol.reading_paused());
  EXPECT_EQ(sink.body, "abcdef");
}

TEST(ClientProtocolStreamingTest, ASmallBodyIsAnsweredWholeEvenWithASink) {
  ProtocolRig rig;
  RecordingSink sink(64);
  ClientRequest request = ClientRequest::get("/small");
  request.sink = &sink;
  rig.send(std::move(request));
  auto decoded = rig.feed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhe");
  EXPECT_EQ(decoded.status, Decoded<ParsedResponse>::Status::need_more);
  EXPECT_EQ(decoded.consumed, 0u);
  decoded = rig.feed("llo");
  ASSERT_EQ(decoded.status, Decoded<ParsedResponse>::Status::message);
  EXPECT_EQ(decoded.request.body, "hello");
  EXPECT_EQ(sink.heads, 0);
}

}  // namespace
}  // namespace tern::http
