// ChildProcess: a program run by a test (a tern server, curl, wrk) with its stdout and stderr
// piped to the test. Every wait is bounded; the destructor SIGKILLs and reaps a child that is
// still there, so no test leaves one behind even when an assertion fails.
//
//   tern::test::ChildProcess server;
//   ASSERT_TRUE(server.spawn(path, {"--port", "0"}, error)) << error;
//   auto line = server.read_stdout_line(10s);           // "tern-httpd: listening on ..."
//   server.send_signal(SIGTERM);
//   EXPECT_TRUE(server.wait(15s).exited_with(0));
//
// SpawnOptions choose where the child's stderr goes (a pipe the test reads, the test's own
// stderr, or a pipe whose read end is closed at once) and an RLIMIT_NOFILE for it.
//
// Thread rule: one test thread.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tern::test {

// How a child ended.
struct ExitStatus {
  bool exited = false;  // normal exit; `code` is valid
  int code = -1;
  bool signaled = false;  // killed by `signo`
  int signo = 0;
  bool timed_out = false;  // did not exit in time: SIGKILLed by the test

  bool exited_with(int expected) const { return exited && code == expected; }
  std::string describe() const {
    std::string text = "unknown status";
    if (exited) text = "exited with code " + std::to_string(code);
    if (signaled) text = "killed by signal " + std::to_string(signo);
    if (timed_out) text += " after the test gave up waiting and sent SIGKILL";
    return text;
  }
};

// The full path of `program` found on $PATH (or `program` itself if it holds a '/'), or
// nullopt. Resolved before fork: the child may only make async-signal-safe calls.
inline std::optional<std::string> find_program(const std::string& program) {
  if (program.find('/') != std::string::npos) {
    return ::access(program.c_str(), X_OK) == 0 ? std::optional(program) : std::nullopt;
  }
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  while (!dirs.empty()) {
    size_t colon = dirs.find(':');
    std::string candidate = std::string(dirs.substr(0, colon)) + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  return std::nullopt;
}

// Where a child's stderr goes.
enum class StderrMode {
  captured,       // a pipe the test reads (stderr_text, wait_for_stderr)
  inherited,      // the test's own stderr (the child's logs show in the test output)
  reader_closed,  // a pipe whose read end the test closes at once: every write gets EPIPE
};

struct SpawnOptions {
  StderrMode stderr_mode = StderrMode::captured;
  std::optional<rlim_t> nofile;  // RLIMIT_NOFILE (soft and hard) set in the child before exec
};

class ChildProcess {
 public:
  using Clock = std::chrono::steady_clock;

  ChildProcess() = default;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
    close_fd(out_fd_);
    close_fd(err_fd_);
  }

  // Starts `path` with `args` (argv[1..]), stdin from /dev/null, stdout piped, stderr as
  // `options` say. The child starts with every signal at its default disposition, none
  // blocked, and no core dumps. On failure returns false and sets `error`.
  bool spawn(const std::string& path, const std::vector<std::string>& args, std::string& error,
             const SpawnOptions& options = {}) {
    std::vector<std::string> strings{path};
    strings.insert(strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : strings) argv.push_back(s.data());
    argv.push_back(nullptr);
    int out[2] = {-1, -1};
    int err[2] = {-1, -1};
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    bool pipe_err = options.stderr_mode != StderrMode::inherited;
    if (devnull < 0 || ::pipe2(out, O_CLOEXEC) != 0 ||
        (pipe_err && ::pipe2(err, O_CLOEXEC) != 0)) {
      error = std::string("pipe/open: ") + std::strerror(errno);
      for (int* fd : {&devnull, &out[0], &out[1], &err[0], &err[1]}) close_fd(*fd);
      return false;
    }
    bool limit = options.nofile.has_value();
    rlimit nofile{};
    if (limit) nofile.rlim_cur = nofile.rlim_max = *options.nofile;
    pid_t pid = ::fork();
    if (pid == 0) {
      // Child: async-signal-safe calls only. The test's signal mask and dispositions must not
      // reach the program (it sets its own policy); a background shell, for one, leaves SIGINT
      // and SIGQUIT ignored.
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      for (int signo = 1; signo < NSIG; ++signo) {
        if (signo != SIGKILL && signo != SIGSTOP) ::signal(signo, SIG_DFL);
      }
      rlimit no_core{0, 0};  // a program killed by SIGQUIT or SIGABRT leaves no core behind
      ::setrlimit(RLIMIT_CORE, &no_core);
      if (::dup2(devnull, STDIN_FILENO) < 0 || ::dup2(out[1], STDOUT_FILENO) < 0 ||
          (err[1] >= 0 && ::dup2(err[1], STDERR_FILENO) < 0)) {
        ::_exit(126);
      }
      // Nothing else of the test (client sockets above all) may leak into the child.
      if (::syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
        for (int fd = 3; fd < 4096; ++fd) ::close(fd);
      }
      if (limit && ::setrlimit(RLIMIT_NOFILE, &nofile) != 0) ::_exit(125);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    int fork_errno = errno;
    close_fd(devnull);
    close_fd(out[1]);
    close_fd(err[1]);
    if (pid < 0) {
      close_fd(out[0]);
      close_fd(err[0]);
      error = std::string("fork: ") + std::strerror(fork_errno);
      return false;
    }
    pid_ = pid;
    out_fd_ = out[0];
    err_fd_ = err[0];
    if (options.stderr_mode == StderrMode::reader_closed) close_fd(err_fd_);
    return true;
  }

  pid_t pid() const { return pid_; }
  const std::string& stdout_text() const { return out_; }
  const std::string& stderr_text() const { return err_; }

  // The next line of stdout (without '\n'), or nullopt on EOF or when `timeout` passes first.
  // Stderr is drained meanwhile.
  std::optional<std::string> read_stdout_line(Clock::duration timeout) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
      if (size_t nl = out_.find('\n', line_start_); nl != std::string::npos) {
        std::string line = out_.substr(line_start_, nl - line_start_);
        line_start_ = nl + 1;
        return line;
      }
      if (out_fd_ < 0 || !read_once(deadline)) return std::nullopt;
    }
  }

  // Waits until stderr holds `text` after what earlier waits matched (so a second reload
  // waits for its own line); false if `timeout` passes or stderr ends first.
  bool wait_for_stderr(std::string_view text, Clock::duration timeout) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
      if (size_t at = err_.find(text, err_mark_); at != std::string::npos) {
        err_mark_ = at + text.size();
        return true;
      }
      if (err_fd_ < 0 || !read_once(deadline)) return false;
    }
  }

  // Reads the pipes until both reach EOF or `timeout` passes; true on EOF of both.
  bool read_until_eof(Clock::duration timeout) {
    auto deadline = Clock::now() + timeout;
    while (out_fd_ >= 0 || err_fd_ >= 0) {
      if (Clock::now() >= deadline || !read_once(deadline)) return false;
    }
    return true;
  }

  // Reads whatever the pipes hold right now, without waiting (a chatty child must never block
  // on a full pipe).
  void read_available() {
    for (int round = 0; round < 64 && (out_fd_ >= 0 || err_fd_ >= 0); ++round) {
      pollfd p[2];
      nfds_t count = 0;
      if (out_fd_ >= 0) p[count++] = pollfd{out_fd_, POLLIN, 0};
      if (err_fd_ >= 0) p[count++] = pollfd{err_fd_, POLLIN, 0};
      if (::poll(p, count, 0) <= 0) return;
      for (nfds_t i = 0; i < count; ++i) {
        if (p[i].revents != 0) read_from(p[i].fd);
      }
    }
  }

  bool send_signal(int signo) { return pid_ > 0 && !reaped_ && ::kill(pid_, signo) == 0; }

  // True while the child has not exited (reaps it, and records how, if it has).
  bool alive() {
    if (pid_ <= 0 || reaped_) return false;
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == 0) return true;
    if (r == pid_) record(status);
    return false;
  }

  // Waits up to `timeout` for the child to exit (reading its output meanwhile, so a chatty
  // child never blocks on a full pipe). On expiry it is SIGKILLed and reaped.
  ExitStatus wait(Clock::duration timeout) {
    auto deadline = Clock::now() + timeout;
    int exited = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    while (alive() && Clock::now() < deadline) {
      pollfd p[3];
      nfds_t count = 0;
      if (exited >= 0) p[count++] = pollfd{exited, POLLIN, 0};
      if (out_fd_ >= 0) p[count++] = pollfd{out_fd_, POLLIN, 0};
      if (err_fd_ >= 0) p[count++] = pollfd{err_fd_, POLLIN, 0};
      // Without a pidfd nothing reports the exit: look again every 5 ms.
      int wait_ms = exited >= 0 ? remaining_ms(deadline) : std::min(5, remaining_ms(deadline));
      if (::poll(p, count, wait_ms) <= 0) continue;
      for (nfds_t i = 0; i < count; ++i) {
        if (p[i].revents != 0 && p[i].fd != exited) read_from(p[i].fd);
      }
    }
    close_fd(exited);
    if (alive()) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      record(status);
      status_.timed_out = true;
    }
    while (out_fd_ >= 0 || err_fd_ >= 0) {  // what the child wrote before it ended
      if (out_fd_ >= 0) read_from(out_fd_);
      if (err_fd_ >= 0) read_from(err_fd_);
    }
    return status_;
  }

 private:
  static void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  static int remaining_ms(Clock::time_point deadline) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return static_cast<int>(std::clamp<long long>(left, 0, 1000 * 1000));
  }

  // Waits for either pipe and reads what came; false when the deadline passed first.
  bool read_once(Clock::time_point deadline) {
    pollfd p[2];
    nfds_t count = 0;
    if (out_fd_ >= 0) p[count++] = pollfd{out_fd_, POLLIN, 0};
    if (err_fd_ >= 0) p[count++] = pollfd{err_fd_, POLLIN, 0};
    if (count == 0) return false;
    int n = ::poll(p, count, remaining_ms(deadline));
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) return false;
    for (nfds_t i = 0; i < count; ++i) {
      if (p[i].revents != 0) read_from(p[i].fd);
    }
    return true;
  }

  void read_from(int fd) {
    char buffer[4096];
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) return;
    bool is_out = fd == out_fd_;
    if (n <= 0) {
      close_fd(is_out ? out_fd_ : err_fd_);
      return;
    }
    (is_out ? out_ : err_).append(buffer, static_cast<size_t>(n));
  }

  void record(int status) {
    reaped_ = true;
    if (WIFEXITED(status)) {
      status_.exited = true;
      status_.code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      status_.signaled = true;
      status_.signo = WTERMSIG(status);
    }
  }

  pid_t pid_ = -1;
  bool reaped_ = false;
  ExitStatus status_;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string out_;
  std::string err_;
  size_t line_start_ = 0;
  size_t err_mark_ = 0;
};

// Runs `program` to completion (bounded by `timeout`) and returns it with its output.
struct CommandResult {
  ExitStatus status;
  std::string out;
  std::string err;
  std::string error;  // why it could not start
};

inline CommandResult run_command(const std::string& program, const std::vector<std::string>& args,
                                 std::chrono::steady_clock::duration timeout) {
  CommandResult result;
  auto path = find_program(program);
  if (!path) {
    result.error = program + " not found";
    return result;
  }
  ChildProcess child;
  if (!child.spawn(*path, args, result.error)) return result;
  result.status = child.wait(timeout);
  result.out = child.stdout_text();
  result.err = child.stderr_text();
  return result;
}

}  // namespace tern::test
