// The redis workload: one command (SET key value, or GET key) encoded once with tern's RESP
// encoder (redis::Command), a pipelined batch is a prefix of D concatenated copies written
// with one write; replies parsed in place with tern's RESP parser (redis::RespParser, the one
// redis::Client reads with), reset and reused per reply. A reply of the wrong kind (an error
// reply, SET not answered +OK, GET not answered with a bulk string or nil) counts as a
// mismatch and the connection is reopened.
#pragma once

#include <cstddef>
#include <string>

#include "exchange.h"
#include "options.h"
#include "receive_buffer.h"
#include "tern/redis/resp_parser.h"

namespace tern::bench {

// The command bytes for these options: SET or GET of options.key, the value
// options.value_size bytes long.
std::string render_redis_command(const BenchOptions& options);

class RespWorkload final : public Workload {
 public:
  // depth: the most commands one write carries.
  RespWorkload(std::string command, bool is_get, size_t depth);
  std::unique_ptr<Exchange> make_exchange(uint32_t connection_id) override;

  const std::string& batch() const noexcept { return batch_; }
  size_t command_size() const noexcept { return command_size_; }
  bool is_get() const noexcept { return is_get_; }

 private:
  std::string batch_;  // the command repeated `depth` times
  size_t command_size_;
  bool is_get_;
};

class RespExchange final : public Exchange {
 public:
  explicit RespExchange(const RespWorkload& workload);
  std::error_code send(TcpConnection& conn, uint64_t first_seq, size_t count,
                       size_t& bytes) override;
  bool reads_into_own_buffer() const noexcept override { return true; }
  std::span<std::byte> read_space(size_t suggested) override;
  void receive(std::span<const std::byte> data, ReplySink& sink) override;
  bool mid_reply() const noexcept override { return !buffer_.empty(); }
  void reset() noexcept override;

 private:
  bool expected(const redis::Value& reply) const noexcept;

  const RespWorkload& workload_;
  redis::RespParser parser_;
  ReceiveBuffer buffer_;
  bool broken_ = false;
};

}  // namespace tern::bench
