#include "signal_policy.h"

#include <pthread.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "tern/base/logging.h"

namespace tern::apps {
namespace {

bool inherited_as_ignored(int signo) {
  struct sigaction current {};
  return sigaction(signo, nullptr, &current) == 0 && current.sa_handler == SIG_IGN;
}

// A blocked signal is still received by sigwaitinfo when its disposition is SIG_IGN (Linux
// never discards a blocked signal), but POSIX leaves it open: the default makes it certain.
void take_over(int signo, sigset_t& waited) {
  std::signal(signo, SIG_DFL);
  sigaddset(&waited, signo);
}

}  // namespace

SignalPolicy::SignalPolicy(Callbacks callbacks) : callbacks_(std::move(callbacks)) {
  std::signal(SIGPIPE, SIG_IGN);
  sigemptyset(&waited_);
  for (int signo : {SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2}) take_over(signo, waited_);
  if (!inherited_as_ignored(SIGHUP)) take_over(SIGHUP, waited_);
  pthread_sigmask(SIG_BLOCK, &waited_, nullptr);
}

StopRequest SignalPolicy::wait() {
  for (;;) {
    int signo = sigwaitinfo(&waited_, nullptr);
    if (signo < 0) continue;  // EINTR: a signal outside the set (SIGCONT, say), handled already
    if (signo == SIGQUIT) return {StopKind::fast_exit, signo};
    if (!handle(signo)) return {StopKind::drain, signo};
  }
}

bool SignalPolicy::handle(int signo) {
  switch (signo) {
    case SIGHUP: {
      if (!callbacks_.reload) {
        log(LogLevel::info, "SIGHUP: no configuration to reload; draining as for SIGTERM");
        return false;
      }
      if (auto error = callbacks_.reload()) {
        log(LogLevel::error, "SIGHUP: reload failed, running on: %s", error.message().c_str());
      } else {
        log(LogLevel::info, "SIGHUP: configuration reloaded");
      }
      return true;
    }
    case SIGUSR1: {
      auto error = callbacks_.reopen_logs ? callbacks_.reopen_logs() : reopen_log_file();
      if (error) {
        log(LogLevel::error, "SIGUSR1: cannot reopen the log file: %s", error.message().c_str());
      } else {
        log(LogLevel::info, "SIGUSR1: log file reopened");
      }
      return true;
    }
    case SIGUSR2:
      log(LogLevel::info, "SIGUSR2: ignored (no meaning for this program)");
      return true;
    default:
      return false;  // SIGTERM, SIGINT
  }
}

void SignalPolicy::fast_exit(int signo) noexcept {
  log(LogLevel::info, "SIG%s: exiting at once, without draining (status %d)",
      sigabbrev_np(signo), kFastExitStatus);
  std::_Exit(kFastExitStatus);
}

}  // namespace tern::apps
