// BackendTraits: what a backend can do, told by the backend itself, so that nothing above
// backend/ has to switch on BackendKind to know it (the patterns' valid matrix, the write path,
// leader/followers' shared readiness set all ask the traits).
//
// Two ways to ask:
//   traits_of(kind)       before any loop exists (checking options, printing --help): what a
//                         backend of that kind is when it runs as itself
//   EventLoop::traits()   the backend actually running, which may differ: io_uring that falls
//                         back to epoll reports epoll's traits
// Each backend file holds its own traits next to the code that makes them true; traits_of only
// forwards to them.
#pragma once

#include <optional>

#include "tern/backend/backend_kind.h"

namespace tern {

struct BackendTraits {
  // Readiness is reported once per change (epoll-et, sigio), not for as long as it lasts: a
  // reader that leaves bytes unread hears nothing more about them until new ones arrive.
  bool edge_triggered = false;
  // The kernel or the AIO machinery performs reads and writes and reports completions (a
  // Proactor: io_uring, aio); otherwise the backend waits for readiness and tern does the
  // system calls (a Reactor emulating completions).
  bool performs_io = false;
  // Readiness (poll ops) is the backend's own mechanism. aio lends it from an inner epoll
  // backend, so a reactor "on aio" would in truth be a reactor on epoll.
  bool native_readiness = true;
  // Receives can take kernel-chosen buffers the backend lends (io_uring's provided-buffer ring;
  // Completion::buffer_id, Backend::hold_buffer).
  bool provided_buffers = false;
  // A multishot receive into lent buffers can be told the most bytes it takes (Op::max_bytes)
  // and then ends by itself: io_uring on kernels that honour the receive's byte limit (2025 on),
  // found by a probe when the ring starts, so only the running backend can say (traits_of
  // says false). Without it TcpConnection receives single-shot there.
  bool bounded_multishot_recv = false;
  // Sends can go out from the caller's pages without a copy into the kernel (io_uring's
  // SEND_ZC, BackendOptions::send_zc_threshold).
  bool zero_copy_send = false;
  // Several threads may wait on one readiness set at once, each event going to one of them and
  // disarming its fd until it is re-armed, from any thread (epoll's EPOLLONESHOT): what
  // leader/followers needs. make_readiness_set() (src/backend/readiness_set.h) builds such a
  // set for these backends and says why the others cannot share.
  bool shared_readiness = false;
  // The backend refuses fds at or above this number (select: FD_SETSIZE, a fixed bitmap);
  // nullopt: only the process's fd limit applies.
  std::optional<int> fd_limit;
};

// The traits of a backend of `kind` when it runs as itself. Any thread.
BackendTraits traits_of(BackendKind kind) noexcept;

}  // namespace tern
