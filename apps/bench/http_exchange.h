// The http workload: one request rendered once (method, path, headers, body from the flags,
// or --request-file as is), a pipelined batch is a prefix of D concatenated copies written
// with one write; responses parsed with tern's http::ResponseParser from a per-connection
// buffer the reads land in, the parser reset and reused per response.
#pragma once

#include <string>
#include <vector>

#include "exchange.h"
#include "options.h"
#include "receive_buffer.h"
#include "tern/http/message.h"
#include "tern/http/parser.h"

namespace tern::bench {

// The request bytes for these options (connrate asks the server to close after the reply).
std::string render_http_request(const BenchOptions& options);

class HttpWorkload final : public Workload {
 public:
  // depth: the most requests one write carries.
  HttpWorkload(std::string request, size_t depth);
  std::unique_ptr<Exchange> make_exchange(uint32_t connection_id) override;

  const std::string& batch() const noexcept { return batch_; }
  size_t request_size() const noexcept { return request_size_; }
  http::Method method() const noexcept { return method_; }
  const http::Limits& limits() const noexcept { return limits_; }

 private:
  std::string batch_;  // the request repeated `depth` times
  size_t request_size_;
  http::Method method_;
  http::Limits limits_;
};

class HttpExchange final : public Exchange {
 public:
  explicit HttpExchange(const HttpWorkload& workload);
  std::error_code send(TcpConnection& conn, uint64_t first_seq, size_t count,
                       size_t& bytes) override;
  bool reads_into_own_buffer() const noexcept override { return true; }
  std::span<std::byte> read_space(size_t suggested) override;
  void receive(std::span<const std::byte> data, ReplySink& sink) override;
  void end_of_input(ReplySink& sink) override;
  bool mid_reply() const noexcept override { return !buffer_.empty(); }
  void reset() noexcept override;

 private:
  const HttpWorkload& workload_;
  http::ResponseParser parser_;
  ReceiveBuffer buffer_;
  bool broken_ = false;
};

}  // namespace tern::bench
