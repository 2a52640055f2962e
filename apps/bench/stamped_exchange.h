// The echo and rr workloads: stamped messages the server sends back unchanged, every received
// byte compared with the byte sent (bench/pingpong_client.cc and bench/rr_client.cc, which
// this replaces). Message k of connection c is a fixed template with a stamp of (c, k) laid
// over part of it, so lost, duplicated, reordered or cross-connection bytes all differ.
//   echo          S bytes: a binary stamp in the first (up to) 8, then pattern bytes
//   rr line       S bytes: "%08x:%06x:" (seq, connection) then printable bytes, then '\n'
//   rr length     a 4-byte big-endian length S, then S bytes stamped as rr line (no '\n')
#pragma once

#include <array>
#include <vector>

#include "exchange.h"
#include "options.h"

namespace tern::bench {

class StampedWorkload final : public Workload {
 public:
  enum class Format { echo_block, line, length_prefixed };
  // size: bytes of payload per message; depth: the most messages one write carries.
  StampedWorkload(Format format, size_t size, size_t depth);
  std::unique_ptr<Exchange> make_exchange(uint32_t connection_id) override;

  static constexpr size_t kMaxStamp = 16;
  size_t message_size() const noexcept { return template_.size(); }  // on the wire
  size_t stamp_offset() const noexcept { return stamp_offset_; }
  size_t stamp_size() const noexcept { return stamp_size_; }
  const std::vector<std::byte>& message_template() const noexcept { return template_; }
  void stamp(uint32_t connection_id, uint64_t seq, std::byte* out) const noexcept;
  // Scratch for rendering a batch: the thread's exchanges share it (write() copies what the
  // socket does not take, so it is free again when send() returns).
  std::vector<std::byte>& scratch() const noexcept { return scratch_; }

 private:
  Format format_;
  std::vector<std::byte> template_;
  size_t stamp_offset_ = 0;
  size_t stamp_size_ = 0;
  mutable std::vector<std::byte> scratch_;
};

class StampedExchange final : public Exchange {
 public:
  StampedExchange(const StampedWorkload& workload, uint32_t connection_id);
  std::error_code send(TcpConnection& conn, uint64_t first_seq, size_t count,
                       size_t& bytes) override;
  void receive(std::span<const std::byte> data, ReplySink& sink) override;
  bool mid_reply() const noexcept override { return offset_ > 0; }
  void reset() noexcept override;

 private:
  // Compares `data` with bytes [offset_, offset_ + size) of the message being received.
  bool matches(const std::byte* data, size_t size) const noexcept;

  const StampedWorkload& workload_;
  uint32_t id_;
  uint64_t seq_ = 0;     // the message being received
  size_t offset_ = 0;    // its bytes received so far
  std::array<std::byte, StampedWorkload::kMaxStamp> expected_stamp_{};
  bool broken_ = false;
};

}  // namespace tern::bench
