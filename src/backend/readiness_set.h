// ReadinessSet: one set of fds whose readiness several threads wait on at once, with one-shot
// delivery: an event goes to exactly one waiter and disarms its fd until someone re-arms it,
// from any thread. What leader/followers is built on (and anything else that lets any thread
// serve any connection). Private to tern.
//
//   set.add(fd, tag)                      registered, disarmed (see add() for errors/hang-ups)
//   set.arm(fd, tag, ready::readable)     one-shot interest, from any thread
//   n = set.wait(events, timeout)         from N threads at once; each event to one of them,
//                                         its fd now disarmed: the taker owns it until it
//                                         re-arms
//   set.remove(fd)                        before the fd is closed
//   set.wake()                            shutdown: every wait, now and later, returns at once
//
// Events name fds by the caller's 64-bit tag, not by fd number: an event can be collected by
// one thread just before another thread removes its fd (and the fd number is then reused), so
// the owner looks the tag up in its own registry and finds nothing for a stale one. Tags should
// therefore not be reused soon (a counter, or a slot and generation).
//
// Which backends can share readiness like this (BackendTraits::shared_readiness):
//  - epoll: yes. EPOLLONESHOT disarms an fd in the kernel as one epoll_wait collects it, so no
//    second waiter hears of it; EPOLL_CTL_MOD re-arms it from any thread and reports the state
//    the fd is in at that moment, so nothing that happened while it was disarmed is lost.
//    epoll_ctl and epoll_wait are safe to call from several threads on one set.
//  - epoll-et: yes, the same set. With EPOLLONESHOT the edge flag makes no difference: an event
//    disarms the fd whichever mode, and the re-arm reports the level, not an edge. (lf still
//    refuses --backend epoll-et, because its handlers run the reactor, which refuses
//    edge-triggered backends; on a shared set it would be lf on epoll under another name.)
//  - select, poll: no. The interest is an array each waiter hands the kernel in its own call,
//    and a report disarms nothing: two threads polling one array both see every event.
//    Sharing would need user-space disarming under a lock and a wake-up of every other waiter
//    on each arm (so it rebuilds its array): one waiter at a time, in effect.
//  - io_uring (one-shot POLL_ADD): the kernel side fits (a one-shot poll request completes
//    once, which is the disarm; a new POLL_ADD is the re-arm), but the submission and
//    completion queues are single-producer, single-consumer rings in shared memory, and tern
//    sets its rings up with SINGLE_ISSUER | DEFER_TASKRUN (only the creating thread may submit,
//    and completions are produced only when it enters the kernel). It would take either
//    (a) one ring set up without those flags, a mutex around get_sqe + submit (any thread
//    arms), and one reaper at a time under a second lock that waits in io_uring_enter and
//    hands each completion to one thread (a leader/followers turn around the CQ: the kernel
//    itself gives no "each completion to one waiter"), or (b) one ring per thread, where a
//    thread arms on its own ring and so receives that fd's next event itself; then an fd
//    re-armed by a thread that goes on to block in a handler waits for it, so an idle thread
//    must be able to take the arm over (IORING_OP_MSG_RING, 5.18+, to post it to a ring whose
//    thread is waiting). Neither is built: io_uring reports shared_readiness = false.
//  - aio: no. Its completions arrive as real-time signals read through one loop's signalfd,
//    and its readiness is an inner epoll backend's, owned by that loop; the shareable part
//    would simply be epoll.
//  - sigio: no. Each fd's signals are queued to one thread (F_OWNER_TID). Sent to the process
//    instead and read from one signalfd by several threads, each signal would reach one reader,
//    but a signal disarms nothing: a second change of state while one thread handles the fd
//    sends a second signal to another thread. It would need per-fd ownership in user space
//    (busy and pending bits) and a poll(2) probe as the re-arm; not a one-shot set.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <system_error>

#include "tern/backend/backend_kind.h"
#include "tern/base/clock.h"
#include "tern/base/result.h"

namespace tern {

struct ReadinessEvent {
  uint64_t tag = 0;    // the caller's name for the fd (add, arm)
  uint32_t ready = 0;  // ready:: bits (tern/backend/op.h)
};

class ReadinessSet {
 public:
  // The one tag a caller may not use: the set's own wake-up fd carries it.
  static constexpr uint64_t kReservedTag = UINT64_MAX;

  // No thread may be inside wait() (join the waiters first). Does not close the fds.
  virtual ~ReadinessSet() = default;

  // Registers `fd` (not owned) under `tag`, armed one-shot for `interest` (ready:: bits), or
  // disarmed with 0. Disarmed means no readable or writable report; an error or hang-up already
  // pending on the fd is still reported once (epoll always reports EPOLLERR and EPOLLHUP, even
  // for an entry without interest), which disarms it like any event. Any thread.
  virtual std::error_code add(int fd, uint64_t tag, uint32_t interest = 0) noexcept = 0;

  // Re-arms `fd` one-shot for `interest` (ready:: bits) under `tag`: the next readiness, or the
  // readiness it already has, is reported once. Any thread; the caller must own the fd's
  // turn (it took the fd's last event, or nothing has been reported since add()).
  virtual std::error_code arm(int fd, uint64_t tag, uint32_t interest) noexcept = 0;

  // Drops `fd` from the set; call it before closing the fd (epoll keeps an fd that was
  // dup()ed). An event collected before this returns may still be delivered to a waiter: see
  // the tags above. Any thread.
  virtual std::error_code remove(int fd) noexcept = 0;

  // Waits until at least one event, a wake(), or `timeout` (nullopt: no timeout), and fills
  // `out` with at most out.size() events, each disarmed and delivered to this caller alone.
  // Returns how many (0: timeout, an interrupting signal, or wake()). Events returned after a
  // wake() are real and disarmed like any others. Any thread, several at once.
  virtual Result<size_t> wait(std::span<ReadinessEvent> out,
                              std::optional<Duration> timeout) noexcept = 0;

  // Wakes every waiter, now and for good: every later wait() returns at once (for shutdown;
  // waiters check woken()). Idempotent. Any thread.
  virtual void wake() noexcept = 0;
  virtual bool woken() const noexcept = 0;  // any thread
};

// A readiness set for a backend of `kind`, or std::errc::operation_not_supported where that
// backend's traits say its readiness cannot be shared between threads (see above).
Result<std::unique_ptr<ReadinessSet>> make_readiness_set(BackendKind kind);

}  // namespace tern
