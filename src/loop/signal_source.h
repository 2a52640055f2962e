// SignalSource: signals delivered as loop events through a signalfd. Adding a signal blocks it
// in the calling thread, so the kernel queues it for the signalfd instead of running a handler.
#pragma once

#include <signal.h>

#include <map>

#include "tern/base/result.h"
#include "tern/loop/event_loop.h"

namespace tern {

class SignalSource {
 public:
  static Result<std::unique_ptr<SignalSource>> create();
  ~SignalSource();

  std::error_code add(int signo, SignalCallback callback);
  void remove(int signo);
  // Reads every queued signal and runs its callback.
  void dispatch();
  int fd() const noexcept { return signal_fd_; }

 private:
  explicit SignalSource(int signal_fd) : signal_fd_(signal_fd) { sigemptyset(&mask_); }

  int signal_fd_;
  sigset_t mask_;
  std::map<int, SignalCallback> callbacks_;
};

}  // namespace tern
