// Uploads of any size with bounded memory: POST /upload takes its body in pieces (a BodySink)
// instead of gathered whole, and answers with the byte count and a checksum. A body that
// comes whole with its head (small ones) is answered the same way from request.body.
//
//   head -c 100M /dev/urandom > big.bin
//   curl --data-binary @big.bin http://127.0.0.1:8082/upload
#include <csignal>
#include <cstdio>
#include <string>

#include "tern/http.h"

namespace http = tern::http;

namespace {

// One upload's running count and FNV-1a checksum; answers at the body's end and deletes itself.
class Summing final : public tern::BodySink {
 public:
  static void start(const http::Request& request, http::Reply reply) {
    if (!request.body_follows) {  // came whole with its head
      Summing whole(std::move(reply));
      whole.on_body(request.body);
      whole.answer({});
      return;
    }
    auto* sink = new Summing(std::move(reply));
    sink->reply_.read_body(*sink);  // the pieces come on the connection's thread
  }

  void on_body_start(tern::ReadControl&) override {}
  bool on_body(std::string_view piece) override {
    bytes_ += piece.size();
    for (unsigned char c : piece) hash_ = (hash_ ^ c) * 1099511628211ull;
    return true;  // false would pause reading until control.resume_reading()
  }
  void on_body_end(std::error_code error) override {
    answer(error);
    delete this;
  }

 private:
  explicit Summing(http::Reply reply) : reply_(std::move(reply)) {}
  void answer(std::error_code error) {
    if (error) {
      reply_.send(http::Response::text(400, "upload cut short: " + error.message() + "\n"));
      return;
    }
    char line[64];
    std::snprintf(line, sizeof line, "%llu bytes, fnv1a %016llx\n",
                  static_cast<unsigned long long>(bytes_), static_cast<unsigned long long>(hash_));
    reply_.send(http::Response::text(200, line));
  }

  http::Reply reply_;
  uint64_t bytes_ = 0;
  uint64_t hash_ = 14695981039346656037ull;
};

}  // namespace

int main() {
  http::Router router;
  router.route_async(http::Method::post, "/upload", Summing::start);

  http::ProtocolOptions protocol;
  protocol.limits.max_body = uint64_t{16} << 30;  // 413 beyond 16 GiB
  protocol.stream_body = [](const http::Request& head) { return head.path == "/upload"; };

  tern::ServerOptions options;
  options.address = tern::InetAddress::loopback_v4(8082);
  tern::Server server(options, http::service(router, std::move(protocol)));

  sigset_t stop;  // blocked before start(), so the server's threads never take it
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  if (auto error = server.start()) {
    std::fprintf(stderr, "start: %s %s\n", error.message().c_str(), server.error_detail().c_str());
    return 1;
  }
  int signo;
  sigwait(&stop, &signo);
  server.shutdown(std::chrono::seconds(5));
}
