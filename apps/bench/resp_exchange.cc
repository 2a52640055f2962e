#include "resp_exchange.h"

#include "tern/net/tcp_connection.h"
#include "tern/redis/command.h"

namespace tern::bench {
namespace {

constexpr size_t kLargestReply = 64u << 20;  // a reply larger than this is a parse error

redis::RespLimits reply_limits() {
  redis::RespLimits limits;
  limits.max_bulk = kLargestReply;
  return limits;
}

}  // namespace

std::string render_redis_command(const BenchOptions& o) {
  if (o.redis_command == RedisCommand::get) return redis::Command::of("GET", o.key).encoded();
  return redis::Command::of("SET", o.key, std::string(o.value_size, 'x')).encoded();
}

RespWorkload::RespWorkload(std::string command, bool is_get, size_t depth)
    : command_size_(command.size()), is_get_(is_get) {
  batch_.reserve(command.size() * depth);
  for (size_t i = 0; i < depth; ++i) batch_ += command;
}

std::unique_ptr<Exchange> RespWorkload::make_exchange(uint32_t) {
  return std::make_unique<RespExchange>(*this);
}

RespExchange::RespExchange(const RespWorkload& workload)
    : workload_(workload), parser_(reply_limits()), buffer_(kLargestReply) {}

std::error_code RespExchange::send(TcpConnection& conn, uint64_t, size_t count, size_t& bytes) {
  bytes = workload_.command_size() * count;
  return conn.write(ConstBuffer(reinterpret_cast<const std::byte*>(workload_.batch().data()),
                                bytes));
}

std::span<std::byte> RespExchange::read_space(size_t) { return buffer_.space(); }

void RespExchange::receive(std::span<const std::byte> data, ReplySink& sink) {
  buffer_.commit(data.size());  // the bytes were read into read_space()
  if (broken_) return;
  while (!buffer_.empty()) {
    auto decoded = parser_.parse(buffer_.pending());
    if (decoded.status == Decoded<redis::Value>::Status::need_more) break;
    if (decoded.status == Decoded<redis::Value>::Status::invalid) {
      broken_ = true;
      sink.broken(ReplySink::Failure::parse, "bad reply: " + decoded.error.message());
      return;
    }
    if (!expected(decoded.request)) {
      broken_ = true;
      sink.broken(ReplySink::Failure::mismatch, "unexpected reply: " + decoded.request.to_string());
      return;
    }
    buffer_.consume(decoded.consumed);
    parser_.reset();
    if (!sink.reply(0)) {
      broken_ = true;
      return;
    }
  }
  buffer_.settle();
}

bool RespExchange::expected(const redis::Value& reply) const noexcept {
  if (workload_.is_get()) return reply.type == redis::Type::bulk_string || reply.is_null();
  return reply.type == redis::Type::simple_string && reply.text == "OK";
}

void RespExchange::reset() noexcept {
  parser_.reset();
  buffer_.clear();
  broken_ = false;
}

}  // namespace tern::bench
