#include "http_exchange.h"

#include "tern/net/tcp_connection.h"

namespace tern::bench {
namespace {

constexpr size_t kLargestResponse = 64u << 20;  // a response larger than this is a parse error

bool has_header(const std::vector<std::string>& headers, std::string_view name) {
  for (const auto& header : headers) {
    auto colon = header.find(':');
    if (http::iequals(std::string_view(header).substr(0, colon), name)) return true;
  }
  return false;
}

http::Method method_of(std::string_view request) {
  return http::parse_method(request.substr(0, request.find(' ')));
}

}  // namespace

std::string render_http_request(const BenchOptions& o) {
  if (!o.request_file_bytes.empty()) return o.request_file_bytes;
  std::string request = o.method + " " + o.target.path + " HTTP/1.1\r\n";
  if (!has_header(o.headers, "Host")) request += "Host: " + o.target.authority + "\r\n";
  for (const auto& header : o.headers) request += header + "\r\n";
  if (o.mode == Mode::connrate && !has_header(o.headers, "Connection")) {
    request += "Connection: close\r\n";  // the server closes first: no TIME_WAIT on our side
  }
  if (!o.body.empty() && !has_header(o.headers, "Content-Length")) {
    request += "Content-Length: " + std::to_string(o.body.size()) + "\r\n";
  }
  request += "\r\n";
  request += o.body;
  return request;
}

HttpWorkload::HttpWorkload(std::string request, size_t depth)
    : request_size_(request.size()), method_(method_of(request)) {
  batch_.reserve(request.size() * depth);
  for (size_t i = 0; i < depth; ++i) batch_ += request;
  limits_.max_body = kLargestResponse;
  limits_.max_headers = 256;
  limits_.max_header_bytes = 64 * 1024;
}

std::unique_ptr<Exchange> HttpWorkload::make_exchange(uint32_t) {
  return std::make_unique<HttpExchange>(*this);
}

HttpExchange::HttpExchange(const HttpWorkload& workload)
    : workload_(workload), parser_(workload.limits()), buffer_(kLargestResponse) {}

std::error_code HttpExchange::send(TcpConnection& conn, uint64_t, size_t count, size_t& bytes) {
  bytes = workload_.request_size() * count;
  // write() sends at once and copies only what the socket did not take: no allocation while
  // the socket keeps up.
  return conn.write(ConstBuffer(reinterpret_cast<const std::byte*>(workload_.batch().data()),
                                bytes));
}

std::span<std::byte> HttpExchange::read_space(size_t) { return buffer_.space(); }

void HttpExchange::receive(std::span<const std::byte> data, ReplySink& sink) {
  buffer_.commit(data.size());  // the bytes were read into read_space()
  if (broken_) return;
  while (!buffer_.empty()) {
    http::ParseStatus status = parser_.parse(buffer_.pending(), workload_.method());
    if (status == http::ParseStatus::need_more) break;
    if (status == http::ParseStatus::error) {
      broken_ = true;
      sink.broken(ReplySink::Failure::parse, "bad response: " + parser_.error().message());
      return;
    }
    const int code = parser_.response().status;
    const bool keep_alive = parser_.response().keep_alive;
    buffer_.consume(parser_.consumed());
    parser_.reset();
    if (!sink.reply(code)) {
      broken_ = true;
      return;
    }
    if (!keep_alive) {
      broken_ = true;  // nothing after the server's last reply counts
      sink.last_reply();
      return;
    }
  }
  buffer_.settle();
}

void HttpExchange::end_of_input(ReplySink& sink) {
  if (broken_ || buffer_.empty()) return;
  http::ParseStatus status = parser_.end_of_input(buffer_.pending());
  if (status == http::ParseStatus::complete) {
    const int code = parser_.response().status;
    buffer_.clear();
    parser_.reset();
    sink.reply(code);
    sink.last_reply();
  }
}

void HttpExchange::reset() noexcept {
  parser_.reset();
  buffer_.clear();
  broken_ = false;
}

}  // namespace tern::bench
