// The sigio backend: classic signal-driven I/O. Each watched fd is told to raise a real-time
// signal on every change of its state (F_SETOWN_EX to the loop's thread, F_SETSIG, O_ASYNC); the
// siginfo names the fd (si_fd) and what happened (si_band, POLLIN/POLLOUT/POLLERR/POLLHUP bits).
// The signals stay blocked in the loop's thread and are read through a signalfd; a blocking wait
// is poll(2) on that signalfd.
//
// * The signal: SIGRTMIN + 1 (SIGRTMIN itself is the usual pick of timers and libraries), one
//   process-wide number shared by every sigio loop. Each loop's fds name its own thread
//   (F_OWNER_TID), so the kernel queues their signals on that thread alone; no other thread sees
//   them, and no handler ever runs. Loops on one thread share its queue: whichever drains a signal
//   hands it to the poller that watches the fd (see hand_over).
// * Edge-like: a signal comes per state change, never again for a state that lasts, so
//   edge_triggered() is true and the ReadinessBackend remembers readiness until EAGAIN.
// * The peer's FIN: si_band says POLLIN for data and for a half close alike, and a reader that
//   drains the data with a short read would stop in front of the FIN (nothing would announce it
//   again). So the fds a batch of signals names are probed once with poll(2), non-blocking, and
//   POLLRDHUP becomes ready::read_closed, as epoll-et reports it. The probe also coalesces a flood
//   of signals into one report per fd.
// * Overflow: when the real-time queue is full (RLIMIT_SIGPENDING) the kernel raises a plain
//   SIGIO without an fd instead. On SIGIO, or on a signal that did not come from an fd (its
//   si_code is not a POLL_* reason), the queue cannot be trusted: every watched fd is probed.
// * A new fd is probed once too: it may have been ready before O_ASYNC was set, and no signal
//   would ever say so.
// * Files without a fasync method accept O_ASYNC silently and never signal (checked on 6.x:
//   eventfd, timerfd, signalfd and epoll fds; pipes, sockets and inotify do signal). This is
//   detected by reading the flags back, and such fds join the blocking poll(2) next to the
//   signalfd. There they are level-triggered for reading: a report that is not consumed comes
//   again, which costs a spurious wake-up but can never lose one (the loop's eventfd is written
//   by other threads at any time, so an emulated edge could miss a write that follows a read).
//   They are never polled for writing: eventfd is always writable and would make every blocking
//   wait return at once; their writability is reported when they are probed (when interest is
//   set), and none of them refuses a write with EAGAIN in practice.
// * Stale signals: a signal queued before its fd was closed still names the old number. Only
//   fds in the interest table are reported; a report for a number that was reused meanwhile is
//   spurious, which the ReadinessBackend tolerates (the op retries and gets EAGAIN).
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <array>
#include <mutex>

#include "backend/backend.h"
#include "backend/poller.h"
#include "backend/ready_bits.h"
#include "tern/base/error.h"
#include "tern/backend/op.h"

namespace tern {
namespace {

int io_signal() noexcept { return SIGRTMIN + 1; }  // glibc's SIGRTMIN is a function

constexpr short kProbeEvents = POLLIN | POLLPRI | POLLRDHUP | POLLOUT;
constexpr short kReadEvents = POLLIN | POLLPRI | POLLRDHUP;
constexpr uint32_t kAlwaysReported = ready::error | ready::hangup | ready::read_closed;

using ready_bits::from_poll;  // si_band and revents alike

class SigioPoller;

// Every sigio poller of the process with its thread, for the pollers that share a thread.
// Leaked on purpose: a loop may outlive static destruction.
struct Registry {
  std::mutex mutex;
  std::vector<SigioPoller*> pollers;
};

Registry& registry() {
  static Registry* instance = new Registry;
  return *instance;
}

class SigioPoller final : public Poller {
 public:
  SigioPoller(int signal_fd, pid_t thread) : signal_fd_(signal_fd), thread_(thread) {
    pollfds_.push_back(pollfd{signal_fd_, POLLIN, 0});
    std::lock_guard lock(registry().mutex);
    registry().pollers.push_back(this);
  }

  ~SigioPoller() override {
    {
      std::lock_guard lock(registry().mutex);
      std::erase(registry().pollers, this);
    }
    for (size_t fd = 0; fd < watches_.size(); ++fd) {
      if (watches_[fd].interest != 0 && owned_by_us(static_cast<int>(fd))) {
        stop_signals(static_cast<int>(fd));
      }
    }
    ::close(signal_fd_);
  }

  bool edge_triggered() const noexcept override { return true; }

  std::error_code set_interest(int fd, uint32_t old_interest,
                               uint32_t new_interest) noexcept override {
    if (new_interest == 0) {
      // The fd may already be closed: then there is nothing to undo and the error is moot.
      stop_signals(fd);
      drop(fd);
      return {};
    }
    // A zero old interest is a new file even if the table still holds its number (an fd that
    // was closed without forget and reused): set it up again.
    Watch& w = watch(fd);
    if (old_interest == 0 || w.interest == 0) {
      drop(fd);
      if (auto error = start(fd)) return error;
      touch(fd, 0);
    }
    w.interest = new_interest;
    if (size_t i = polled_index(fd); i != 0) {
      pollfds_[i].events = (new_interest & ready::readable) ? kReadEvents : 0;
    }
    return {};
  }

  // The fd is about to be closed, which removes it from the file's fasync list by itself.
  void forget(int fd) noexcept override { drop(fd); }

  std::error_code wait(bool block, std::vector<ReadyEvent>& out) noexcept override {
    bool idle = touched_.empty() && !resync_all_;
    int n = ::poll(pollfds_.data(), pollfds_.size(), block && idle ? -1 : 0);
    if (n < 0 && errno != EINTR) return last_system_error();
    if (n > 0) {
      bool signalled = pollfds_[0].revents != 0;
      report_polled(out);
      if (signalled) {
        if (auto error = drain_signals()) return error;
      }
    }
    if (resync_all_) touch_all();
    if (!touched_.empty()) probe_touched(out);
    return {};
  }

 private:
  struct Watch {
    uint32_t interest = 0;  // ready:: bits; 0: not watched
    uint32_t pending = 0;   // what signals said since the last probe
    bool polled = false;    // no fasync: in the blocking poll(2), level-triggered for reading
    bool touched = false;   // listed in touched_: probe it in this wait
  };

  Watch& watch(int fd) {
    if (static_cast<size_t>(fd) >= watches_.size()) watches_.resize(static_cast<size_t>(fd) + 64);
    return watches_[static_cast<size_t>(fd)];
  }

  bool watching(int fd) const noexcept {
    return fd >= 0 && static_cast<size_t>(fd) < watches_.size() &&
           watches_[static_cast<size_t>(fd)].interest != 0;
  }

  // Routes the fd's signals to this loop's thread, or polls it when its file cannot raise them.
  std::error_code start(int fd) {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0) return last_system_error();
    if (start_signals(fd, flags)) return {};
    watches_[static_cast<size_t>(fd)].polled = true;
    pollfds_.push_back(pollfd{fd, 0, 0});
    return {};
  }

  // Owner and signal first, O_ASYNC last: no signal can go anywhere else in between.
  bool start_signals(int fd, int flags) const noexcept {
    f_owner_ex owner{F_OWNER_TID, thread_};
    if (::fcntl(fd, F_SETOWN_EX, &owner) < 0) return false;
    if (::fcntl(fd, F_SETSIG, io_signal()) < 0) return false;
    if (::fcntl(fd, F_SETFL, flags | O_ASYNC) < 0) return false;
    // A file without a fasync method drops O_ASYNC without an error: only reading back tells.
    int now = ::fcntl(fd, F_GETFL);
    return now >= 0 && (now & O_ASYNC) != 0;
  }

  // Errors ignored: the fd may be closed already.
  void stop_signals(int fd) const noexcept {
    if (!watching(fd) || watches_[static_cast<size_t>(fd)].polled) return;
    int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0 && (flags & O_ASYNC)) ::fcntl(fd, F_SETFL, flags & ~O_ASYNC);
  }

  // Whether the fd still signals this thread: a number the table kept after its fd was closed
  // (without forget) may belong to someone else by now.
  bool owned_by_us(int fd) const noexcept {
    f_owner_ex owner{};
    return ::fcntl(fd, F_GETOWN_EX, &owner) == 0 && owner.type == F_OWNER_TID &&
           owner.pid == thread_;
  }

  void drop(int fd) noexcept {
    if (!watching(fd)) return;
    Watch& w = watches_[static_cast<size_t>(fd)];
    if (size_t i = polled_index(fd); i != 0) {
      pollfds_[i] = pollfds_.back();
      pollfds_.pop_back();
    }
    w = Watch{};  // an entry left in touched_ is skipped: its touched flag is gone
  }

  // The fd's entry in pollfds_, or 0 (the signalfd's) if it has none. A linear search: only
  // the few fds without fasync have one.
  size_t polled_index(int fd) const noexcept {
    for (size_t i = 1; i < pollfds_.size(); ++i) {
      if (pollfds_[i].fd == fd) return i;
    }
    return 0;
  }

  // Queues the fd for this wait's probe, keeping what its signals said.
  void touch(int fd, uint32_t bits) {
    Watch& w = watches_[static_cast<size_t>(fd)];
    w.pending |= bits;
    if (w.touched) return;
    w.touched = true;
    touched_.push_back(fd);
  }

  void touch_all() {
    resync_all_ = false;
    for (size_t fd = 0; fd < watches_.size(); ++fd) {
      if (watches_[fd].interest != 0) touch(static_cast<int>(fd), 0);
    }
  }

  void report(std::vector<ReadyEvent>& out, int fd, uint32_t bits) {
    uint32_t interest = watches_[static_cast<size_t>(fd)].interest;
    bits &= interest | kAlwaysReported;
    if (interest != 0 && bits != 0) out.push_back({fd, bits});
  }

  // The fds without fasync. Backwards: drop() moves the last entry into the dropped one's place.
  void report_polled(std::vector<ReadyEvent>& out) {
    for (size_t i = pollfds_.size() - 1; i >= 1; --i) {
      pollfd entry = pollfds_[i];
      if (entry.revents == 0) continue;
      report(out, entry.fd, from_poll(static_cast<uint16_t>(entry.revents)));
      // Closed behind our back: POLLNVAL would come back at once in every wait.
      if (entry.revents & POLLNVAL) drop(entry.fd);
    }
  }

  std::error_code drain_signals() {
    for (;;) {
      ssize_t n = ::read(signal_fd_, infos_.data(), sizeof infos_);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno == EAGAIN ? std::error_code{} : last_system_error();
      }
      size_t count = static_cast<size_t>(n) / sizeof(signalfd_siginfo);
      for (size_t i = 0; i < count; ++i) on_signal(infos_[i]);
      if (count < infos_.size()) return {};  // a short read emptied the queue
    }
  }

  void on_signal(const signalfd_siginfo& info) {
    int reason = info.ssi_code;
    if (info.ssi_signo == SIGIO || reason < POLL_IN || reason > POLL_HUP) {
      resync_thread();
      return;
    }
    int fd = info.ssi_fd;
    uint32_t bits = from_poll(info.ssi_band);
    if (watching(fd)) {
      touch(fd, bits);
    } else {
      hand_over(fd, bits);
    }
  }

  // A signal for an fd this poller does not watch: another loop of this thread may watch it
  // (it reads the same queue). Otherwise it is stale and dropped.
  void hand_over(int fd, uint32_t bits) {
    std::lock_guard lock(registry().mutex);
    for (SigioPoller* poller : registry().pollers) {
      if (poller != this && poller->thread_ == thread_ && poller->watching(fd)) {
        poller->touch(fd, bits);
      }
    }
  }

  // Lost signals could have been any fd's of this thread, whichever loop watches it.
  void resync_thread() {
    std::lock_guard lock(registry().mutex);
    for (SigioPoller* poller : registry().pollers) {
      if (poller->thread_ == thread_) poller->resync_all_ = true;
    }
  }

  // One non-blocking poll(2) over the touched fds: what their signals said, plus what is true
  // now (POLLRDHUP above all, which no si_band carries).
  void probe_touched(std::vector<ReadyEvent>& out) {
    probes_.clear();
    for (int fd : touched_) {
      Watch& w = watches_[static_cast<size_t>(fd)];
      if (!w.touched) continue;
      w.touched = false;
      probes_.push_back(pollfd{fd, kProbeEvents, 0});
    }
    touched_.clear();
    if (::poll(probes_.data(), probes_.size(), 0) < 0) {
      for (pollfd& probe : probes_) probe.revents = 0;  // report what the signals said
    }
    for (const pollfd& probe : probes_) {
      Watch& w = watches_[static_cast<size_t>(probe.fd)];
      uint32_t bits = w.pending | from_poll(static_cast<uint16_t>(probe.revents));
      w.pending = 0;
      report(out, probe.fd, bits);
    }
  }

  int signal_fd_;
  pid_t thread_;                        // the loop's thread, which every signal targets
  bool resync_all_ = false;             // the queue overflowed: probe every watched fd
  std::vector<Watch> watches_;          // indexed by fd
  std::vector<pollfd> pollfds_;         // [0]: the signalfd; then the fds without fasync
  std::vector<int> touched_;            // fds to probe in this wait
  std::vector<pollfd> probes_;
  std::array<signalfd_siginfo, 64> infos_{};
};

}  // namespace

// Edge-like (a signal per change of state). Not shareable between threads: each fd's signals
// are queued to one thread (F_OWNER_TID) and read through that thread's signalfd, and a signal
// does not disarm its fd, so there is no one-shot hand-over to build a shared set on.
BackendTraits sigio_traits() noexcept {
  BackendTraits traits;
  traits.edge_triggered = true;
  return traits;
}

std::unique_ptr<Poller> make_sigio_poller(std::error_code& error) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, io_signal());
  sigaddset(&signals, SIGIO);
  // Blocked for good (like the loop's own signals): a delivered signal would run its default
  // action, which is to terminate the process.
  if (int e = ::pthread_sigmask(SIG_BLOCK, &signals, nullptr)) {
    error = system_error(e);
    return nullptr;
  }
  int fd = ::signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) {
    error = last_system_error();
    return nullptr;
  }
  return std::make_unique<SigioPoller>(fd, ::gettid());
}

}  // namespace tern
