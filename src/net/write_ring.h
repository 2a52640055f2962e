// WriteRing: what a TcpConnection needs only while it has bytes to send: the ring of its queued
// write requests and the iovecs of its send in flight (about 1.8 KiB together). A connection
// takes one when it queues its first request and gives it back once the queue is empty and no
// send is in flight, so an idle connection holds none (issue 9: memory per idle connection).
// Rings given back are kept, up to a few per thread, for the next connection of the same loop
// that queues a write: a busy server allocates none in steady state.
//
// Thread rule: a ring is used by its connection's loop thread only; take_write_ring and the
// recycler use the calling thread's spares.
#pragma once

#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tern/net/tcp_connection.h"

namespace tern::detail {

struct WriteRequest {
  std::vector<std::byte> owned;     // copied bytes (capacity kept for reuse)
  std::string taken;                // bytes handed over by write(std::string&&)
  const std::byte* data = nullptr;  // owned.data() or the caller's bytes (write_ref)
  size_t size = 0;
  size_t sent = 0;
  bool shutdown_marker = false;
  uint32_t held_buffer = kNoBuffer;  // a backend buffer kept until this request is sent
  FileRange file;                    // a file request: `size` bytes of file.file
  WriteCallback on_done;
  bool is_file() const noexcept { return file.file != nullptr; }
};

struct WriteRing {
  static constexpr size_t kMaxIov = 64;
  static constexpr size_t kFirstSize = 4;  // a power of two, doubled when full

  std::vector<WriteRequest> requests = std::vector<WriteRequest>(kFirstSize);
  std::array<iovec, kMaxIov> iov{};

  size_t mask() const noexcept { return requests.size() - 1; }
};

// A ring with no request queued: one of this thread's spares, or a new one.
WriteRingPtr take_write_ring();

}  // namespace tern::detail
