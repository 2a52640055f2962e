// Backend: the loop's one interface to the kernel's event machinery. Private to tern.
//
// A backend starts operations (submit), withdraws them (cancel) and, in wait(), gathers what
// happened and delivers each completion to its op's handler. Readiness backends (select, poll,
// epoll) emulate the completion verb (ReadinessBackend); io_uring will implement it natively.
// Loop thread only.
#pragma once

#include <memory>
#include <system_error>

#include "tern/backend/backend_kind.h"
#include "tern/backend/backend_options.h"
#include "tern/backend/backend_traits.h"
#include "tern/backend/op.h"

namespace tern {

class Backend {
 public:
  virtual ~Backend() = default;

  virtual BackendKind kind() const noexcept = 0;
  virtual const BackendStats& stats() const noexcept = 0;
  // What this backend can do: the running one (io_uring that fell back reports epoll's). The
  // answer never changes for an instance, so any thread may ask once the backend exists.
  virtual BackendTraits traits() const noexcept = 0;

  // Starts `op`. On success its handler will be called from a later wait(), never from inside
  // submit(). On failure (the fd is out of this backend's range, an op of the same direction is
  // already in flight on the fd) nothing is started and no completion will come.
  virtual std::error_code submit(Op& op) noexcept = 0;

  // Asks for `op` to end early. If it is in flight, its final completion (-ECANCELED, or its
  // natural result if that won the race) comes from a later wait(). No-op otherwise.
  virtual void cancel(Op& op) noexcept = 0;

  // Withdraws `op` at once: on return the backend no longer refers to it and no completion
  // will come. For destructors (teardown without callbacks); prefer cancel() otherwise.
  virtual void abandon(Op& op) noexcept = 0;

  // The fd is about to be closed: drops what the backend keeps about it. No op may be in flight.
  virtual void forget(int fd) noexcept = 0;

  // Waits for events (blocking only if `block` and nothing is already pending) and delivers
  // completions. Every source is bounded per call. Returns how many completions it delivered.
  virtual size_t wait(bool block) = 0;

  // Keeps lent buffer `id` (Completion::buffer_id) out of circulation after the handler returns,
  // until release_buffer(id); counted, so it may be held more than once. False when the
  // backend cannot (it lends no such buffers) or should not (its ring runs low): copy instead.
  virtual bool hold_buffer(uint32_t /*id*/) noexcept { return false; }
  virtual void release_buffer(uint32_t /*id*/) noexcept {}

  // Sends right away if the backend can do so without waiting (readiness backends: one
  // sendmsg); returns bytes sent or -errno (-EAGAIN: queue a send op instead).
  virtual int try_send(int fd, const iovec* iov, int iov_count) noexcept = 0;
};

// Creates a backend of `kind`, or the error that prevents it (epoll_create1 failing, say).
// io_uring falls back to epoll (one log line, stats().fallbacks = 1) unless options.strict.
std::unique_ptr<Backend> make_backend(BackendKind kind, const BackendOptions& options,
                                      std::error_code& error);

// Each backend file's own traits, the one place that states them (traits_of forwards here).
BackendTraits select_traits() noexcept;
BackendTraits poll_traits() noexcept;
BackendTraits epoll_traits(bool edge_triggered) noexcept;
BackendTraits sigio_traits() noexcept;
BackendTraits uring_traits() noexcept;
BackendTraits aio_traits() noexcept;

// One factory per backend file.
std::unique_ptr<Backend> make_uring_backend(const BackendOptions& options, std::error_code& error);
std::unique_ptr<Backend> make_aio_backend(const BackendOptions& options, std::error_code& error);

}  // namespace tern
