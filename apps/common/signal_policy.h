// SignalPolicy: what every tern program does on each signal (docs/signals.md).
//
//   SIGTERM, SIGINT  drain: stop accepting, finish requests in flight (--drain-ms), exit 0
//   SIGHUP           reload the configuration; a program without one drains, as on SIGTERM
//   SIGQUIT          fast exit: no drain, exit status 131 (128 + SIGQUIT) at once
//   SIGUSR1          reopen the log file (after a rotation renamed it)
//   SIGUSR2          ignored, with a log line
//   SIGPIPE          ignored (SIG_IGN) process-wide: a write to a closed pipe or socket fails
//                    with EPIPE instead of killing the process
//
// The signals are blocked and taken with sigwaitinfo on the main thread, so their work runs as
// ordinary code, never in an asynchronous handler; tern's own threads block every signal
// (src/patterns/thread.cc), so none is delivered anywhere else.
#pragma once

#include <csignal>
#include <functional>
#include <system_error>

namespace tern::apps {

// What the program must do now: the signals that need nothing more from it (reload, reopen
// the logs, ignore) are handled inside SignalPolicy::wait.
enum class StopKind { drain, fast_exit };

struct StopRequest {
  StopKind kind;
  int signo;
};

class SignalPolicy {
 public:
  // The exit status of a fast exit: a shell reports a process killed by SIGQUIT the same way,
  // but this one exits by itself, without a core dump.
  static constexpr int kFastExitStatus = 128 + SIGQUIT;

  struct Callbacks {
    // SIGHUP: rereads the configuration; an error is logged and the program keeps running
    // as it was. Empty: the program has no configuration, and SIGHUP drains.
    std::function<std::error_code()> reload;
    // SIGUSR1. Empty: tern::reopen_log_file().
    std::function<std::error_code()> reopen_logs;
  };

  // Main thread, first thing in main, before any thread starts (threads inherit the mask):
  // ignores SIGPIPE and blocks the signals above. A SIGHUP inherited as ignored (nohup) stays
  // ignored.
  explicit SignalPolicy(Callbacks callbacks = {});
  SignalPolicy(const SignalPolicy&) = delete;
  SignalPolicy& operator=(const SignalPolicy&) = delete;

  // Main thread only. Blocks until a signal asks the program to stop, handling the others
  // (reload, reopen the logs, ignore) on the way, each with a log line.
  StopRequest wait();

  // Any thread. Logs and ends the process at once with kFastExitStatus: no destructors, no
  // drain; the kernel closes every connection.
  [[noreturn]] static void fast_exit(int signo) noexcept;

 private:
  // Handles one signal that does not stop the program; returns false when it does.
  bool handle(int signo);

  Callbacks callbacks_;
  sigset_t waited_;
};

}  // namespace tern::apps
