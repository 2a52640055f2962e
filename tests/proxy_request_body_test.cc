// Request bodies through the proxy (HttpProxy behind a tern::Server, as tern-proxy sets it up:
// ProtocolOptions::stream_body = relays_request_body), under single, loops and hsha on epoll
// and io_uring. A large upload is relayed as it arrives: an upstream that reads nothing stalls
// the client's sends far short of the body (the proxy does not gather it), and once it reads,
// every byte arrives in order under the client's Content-Length; a chunked upload arrives
// chunked; an upstream that answers before the whole body gets its answer to the client, whose
// connection then closes; a client that goes away mid-upload closes the upstream connection
// and is not counted against the upstream; an upload whose first upstream refuses the connect
// is retried elsewhere (its body was never asked for). Real loopback sockets.
#include <cstdio>
#include <thread>

#include "proxy_rig.h"

namespace tern::proxy {
namespace {

using namespace test_rig;

std::string upload_head(uint64_t length) {
  return "POST /upload HTTP/1.1\r\nHost: proxied.test\r\nContent-Length: " +
         std::to_string(length) + "\r\n\r\n";
}

// `size` bytes of the pattern as chunks of uneven sizes, then the last chunk.
std::string chunked_pattern(uint64_t size) {
  std::string framed;
  uint64_t at = 0;
  for (uint64_t chunk = 1000; at < size; chunk = chunk * 2 + 333) {
    uint64_t n = std::min(chunk % 200000 + 1, size - at);
    char line[32];
    std::snprintf(line, sizeof line, "%llx\r\n", static_cast<unsigned long long>(n));
    framed += line;
    for (uint64_t i = 0; i < n; ++i) framed += pattern_at(at + i);
    framed += "\r\n";
    at += n;
  }
  return framed + "0\r\n\r\n";
}

class ProxyRequestBodyTest : public testing::TestWithParam<Row> {
 protected:
  void SetUp() override {
    if (auto why = test::backend_unavailable(GetParam().backend)) GTEST_SKIP() << *why;
  }
  std::unique_ptr<ProxyRig> proxy(std::vector<UpstreamConfig> upstreams,
                                  uint64_t max_request_body = http::Limits{}.max_body) {
    return std::make_unique<ProxyRig>(GetParam(), HttpProxyOptions{}, std::move(upstreams),
                                      max_request_body);
  }

  // A client uploading `size` bytes of the pattern through a proxy to `listener`, its first
  // bytes sent, and the upstream's end of the proxy's connection (check upstream->ok()).
  struct Upload {
    std::unique_ptr<ProxyRig> rig;
    std::unique_ptr<Peer> client;
    std::unique_ptr<BodySender> sender;
    std::unique_ptr<Peer> upstream;
  };
  Upload start_upload(UpstreamListener& listener, uint64_t size) {
    Upload upload;
    upload.rig = proxy({config_of(listener)}, size);
    upload.client = std::make_unique<Peer>(upload.rig->address());
    upload.sender = std::make_unique<BodySender>(upload.client->fd(), upload_head(size), size);
    upload.sender->send_what_fits();
    upload.upstream = std::make_unique<Peer>(listener.accept_one());
    return upload;
  }
};

TEST_P(ProxyRequestBodyTest, ALargeUploadIsRelayedAndAnUpstreamThatDoesNotReadStallsTheClient) {
  constexpr uint64_t kBody = 64u << 20;
  UpstreamListener listener;
  Upload upload = start_upload(listener, kBody);
  ASSERT_TRUE(upload.upstream->ok());
  BodySender& sender = *upload.sender;
  Peer& client = *upload.client;
  Peer& upstream = *upload.upstream;
  // The upstream reads nothing: the proxy stops reading the client once the upstream's socket
  // and its own mark are full, so the client's sends stall far short of the body (the kernel
  // buffers on the way hold a few MiB each; a proxy that gathered the body would take it all).
  sender.send_until_stalled(1000ms);
  ASSERT_FALSE(sender.failed());
  EXPECT_FALSE(sender.done());
  EXPECT_LT(sender.body_sent(), kBody / 2);
  // Now the upstream reads: every byte arrives, in order, under the client's Content-Length.
  ChunkedBodyCheck check;
  pump_to_the_end(sender, upstream.fd(), check);
  EXPECT_TRUE(check.done()) << check.body_bytes() << " bytes of " << kBody;
  EXPECT_FALSE(check.failed()) << check.head();
  EXPECT_EQ(check.body_bytes(), kBody);
  EXPECT_TRUE(check.sized()) << check.head();
  EXPECT_EQ(check.head().substr(0, 13), "POST /upload ") << check.head();
  EXPECT_NE(check.head().find("\r\nContent-Length: " + std::to_string(kBody)), std::string::npos)
      << check.head();
  upstream.send("HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
  Message answer = client.read();
  EXPECT_EQ(answer.status(), 201) << answer.head;
  EXPECT_EQ(answer.body, "ok");
  // The client's connection serves the next request (the body ended where its length said).
  client.send(get("/next"));
  Message next = upstream.read();
  EXPECT_TRUE(next.complete);
  EXPECT_EQ(next.head.substr(0, 10), "GET /next ");
}

TEST_P(ProxyRequestBodyTest, AChunkedUploadArrivesChunked) {
  constexpr uint64_t kBody = 3u << 20;
  UpstreamListener listener;
  auto rig = proxy({config_of(listener)});
  Peer client(rig->address());
  ASSERT_TRUE(client.ok());
  std::string request = "POST /upload HTTP/1.1\r\nHost: proxied.test\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n" + chunked_pattern(kBody);
  std::thread sending([&] { client.send(request); });  // bounded: the socket's send timeout
  Peer upstream(listener.accept_one());
  ChunkedBodyCheck check;
  if (upstream.ok()) {
    char buffer[65536];
    auto give_up = std::chrono::steady_clock::now() + kBound;
    while (!check.done() && !check.failed() && std::chrono::steady_clock::now() < give_up) {
      ssize_t n = ::recv(upstream.fd(), buffer, sizeof buffer, 0);
      if (n <= 0) break;
      check.feed(std::string_view(buffer, static_cast<size_t>(n)));
    }
  }
  sending.join();
  ASSERT_TRUE(upstream.ok());
  EXPECT_TRUE(check.done()) << check.body_bytes() << " bytes of " << kBody;
  EXPECT_FALSE(check.failed()) << check.head();
  EXPECT_EQ(check.body_bytes(), kBody);
  EXPECT_FALSE(check.sized()) << check.head();
  EXPECT_NE(check.head().find("\r\nTransfer-Encoding: chunked"), std::string::npos) << check.head();
  upstream.send("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone");
  EXPECT_EQ(client.read().body, "done");
}

TEST_P(ProxyRequestBodyTest, AnUpstreamThatAnswersBeforeTheWholeBodyClosesTheClientAfterIt) {
  constexpr uint64_t kBody = 16u << 20;
  UpstreamListener listener;
  Upload upload = start_upload(listener, kBody);
  ASSERT_TRUE(upload.upstream->ok());
  Peer& client = *upload.client;
  Peer& upstream = *upload.upstream;
  Message head = upstream.read(/*no_body=*/true);
  ASSERT_TRUE(head.complete);
  upstream.send("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n\r\nbig!");
  Message answer = client.read();
  EXPECT_EQ(answer.status(), 413) << answer.head;
  EXPECT_EQ(answer.body, "big!");
  // The rest of the body cannot go anywhere: the client's connection closes after the answer.
  EXPECT_TRUE(client.read_until_closed());
  // And the upstream connection, left mid-body, is closed rather than reused.
  EXPECT_TRUE(upstream.read_until_closed());
}

TEST_P(ProxyRequestBodyTest, AClientThatGoesAwayMidUploadClosesTheUpstreamConnection) {
  constexpr uint64_t kBody = 16u << 20;
  UpstreamListener listener;
  auto rig = proxy({config_of(listener)}, kBody);
  std::string name = config_of(listener).name;
  {
    Peer client(rig->address());
    ASSERT_TRUE(client.ok());
    client.send(upload_head(kBody));
    std::string part(1 << 20, '\0');
    for (size_t i = 0; i < part.size(); ++i) part[i] = pattern_at(i);
    client.send(part);
    Peer upstream(listener.accept_one());
    ASSERT_TRUE(upstream.ok());
    ASSERT_TRUE(upstream.read(/*no_body=*/true).complete);
    client.reset();  // gone, mid-body
    // The proxy closes its upstream connection (it is mid-body, never reusable).
    EXPECT_TRUE(upstream.read_until_closed());
    EXPECT_LE(upstream.buffered(), part.size());
  }
  // The client's doing: not a failure of the upstream's.
  UpstreamSnapshot snapshot = rig->upstream(name);
  EXPECT_EQ(snapshot.stats.failures, 0u);
  EXPECT_FALSE(snapshot.ejected);
}

TEST_P(ProxyRequestBodyTest, AnUploadWhoseUpstreamRefusesIsRetriedElsewhere) {
  constexpr uint64_t kBody = 1u << 20;
  NamedUpstream good("good");
  auto rig = proxy({refusing_upstream(), good.config()});
  Peer client(rig->address());
  ASSERT_TRUE(client.ok());
  std::string body(kBody, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = pattern_at(i);
  // Two uploads on one connection (one loop): round-robin sends one of them to the refusing
  // upstream first, whose connect fails before the body is asked for. The client waits for
  // 100 Continue, which comes once an upstream connection carries the head: the body is
  // relayed in pieces, not gathered.
  std::string head = upload_head(kBody);
  head.insert(head.size() - 2, "Expect: 100-continue\r\n");
  for (int i = 0; i < 2; ++i) {
    client.send(head);
    Message go_on = client.read();
    ASSERT_EQ(go_on.status(), 100) << go_on.head;
    std::thread sending([&] { client.send(body); });
    Message answer = client.read();
    sending.join();
    EXPECT_EQ(answer.status(), 200) << answer.head;
    EXPECT_EQ(answer.body, "good /upload");
    EXPECT_EQ(answer.field("X-Body"), std::to_string(kBody) + " pattern");
  }
  EXPECT_EQ(good.posts(), 2);
  EXPECT_GE(rig->stats().retries, 1u);
}

INSTANTIATE_TEST_SUITE_P(Rows, ProxyRequestBodyTest, testing::ValuesIn(rows()), row_name);

}  // namespace
}  // namespace tern::proxy
