#include "loop/signal_source.h"

#include <pthread.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "tern/base/error.h"

namespace tern {

Result<std::unique_ptr<SignalSource>> SignalSource::create() {
  sigset_t empty;
  sigemptyset(&empty);
  int fd = ::signalfd(-1, &empty, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) return last_system_error();
  return std::unique_ptr<SignalSource>(new SignalSource(fd));
}

SignalSource::~SignalSource() { ::close(signal_fd_); }

std::error_code SignalSource::add(int signo, SignalCallback callback) {
  if (signo <= 0 || signo >= NSIG || signo == SIGKILL || signo == SIGSTOP) {
    return make_error_code(errc::invalid_argument);
  }
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, signo);
  if (int error = ::pthread_sigmask(SIG_BLOCK, &one, nullptr)) return system_error(error);
  sigset_t mask = mask_;
  sigaddset(&mask, signo);
  if (::signalfd(signal_fd_, &mask, 0) < 0) return last_system_error();
  mask_ = mask;
  callbacks_[signo] = std::move(callback);
  return {};
}

void SignalSource::remove(int signo) {
  if (callbacks_.erase(signo) == 0) return;
  sigdelset(&mask_, signo);
  ::signalfd(signal_fd_, &mask_, 0);
  // The signal stays blocked: unblocking it could run its default action (terminate) on a
  // signal that is already queued.
}

void SignalSource::dispatch() {
  signalfd_siginfo info[16];
  for (;;) {
    ssize_t n = ::read(signal_fd_, info, sizeof info);
    if (n <= 0) return;
    size_t count = static_cast<size_t>(n) / sizeof(signalfd_siginfo);
    for (size_t i = 0; i < count; ++i) {
      int signo = static_cast<int>(info[i].ssi_signo);
      auto it = callbacks_.find(signo);
      if (it == callbacks_.end()) continue;
      SignalCallback callback = it->second;  // a copy: the callback may remove its own entry
      callback(signo);
    }
  }
}

}  // namespace tern
