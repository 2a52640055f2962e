// HeadlessChromium: runs chromium headless on one URL, as a child of the test, and gives back
// what it printed (the DOM for --dump-dom) and its log. Used by the status page's test
// (tests/status_page_test.cc) to run the page's script in a real browser.
//
//   auto browser = tern::test::HeadlessChromium::find();      // nullopt: not installed
//   BrowserRun run = browser->run(url, {"--dump-dom", "--virtual-time-budget=5500"}, dir, 30s);
//
// Chromium is started in a process group of its own, its output going to files in `dir` (not
// pipes: a renderer that outlives the browser would hold a pipe open). The run is bounded:
// past the timeout the whole group is SIGKILLed; the browser is reaped, and whatever of its
// group is left when it ends (a zygote, a renderer) is SIGKILLed too.
//
// Thread rule: one test thread.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "child_process.h"
#include "temp_dir.h"

namespace tern::test {

struct BrowserRun {
  std::string error;      // why it could not start; empty when it ran
  ExitStatus status;      // how it ended
  std::string out;        // its stdout: the DOM for --dump-dom
  std::string log;        // its stderr
};

class HeadlessChromium {
 public:
  // The browser: $TERN_CHROMIUM if set, else the first of chromium, chromium-browser and
  // google-chrome on $PATH; nullopt when there is none.
  static std::optional<HeadlessChromium> find() {
    if (const char* path = std::getenv("TERN_CHROMIUM"); path != nullptr && *path != '\0') {
      if (auto found = find_program(path)) return HeadlessChromium(*found);
      return std::nullopt;
    }
    for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
      if (auto found = find_program(name)) return HeadlessChromium(*found);
    }
    return std::nullopt;
  }

  const std::string& path() const { return path_; }

  // Loads `url` headless with `extra` flags, a fresh profile under `dir` (named `name`) and
  // its output in files there; waits up to `timeout` for the browser to exit.
  BrowserRun run(const std::string& url, const std::vector<std::string>& extra,
                 const std::filesystem::path& dir, const std::string& name,
                 std::chrono::steady_clock::duration timeout) const {
    std::vector<std::string> strings{path_, "--headless=new", "--no-sandbox", "--disable-gpu",
                                     "--no-first-run", "--no-default-browser-check",
                                     "--disable-extensions", "--mute-audio",
                                     "--user-data-dir=" + (dir / (name + "-profile")).string()};
    strings.insert(strings.end(), extra.begin(), extra.end());
    strings.push_back(url);
    std::string out_path = (dir / (name + ".out")).string();
    std::string log_path = (dir / (name + ".log")).string();

    BrowserRun result;
    pid_t pid = spawn(strings, out_path, log_path, result.error);
    if (pid < 0) return result;
    result.status = wait_bounded(pid, timeout);
    // The browser has been reaped; anything left of its group goes now.
    ::kill(-pid, SIGKILL);
    result.out = read_file(out_path);
    result.log = read_file(log_path);
    return result;
  }

 private:
  explicit HeadlessChromium(std::string path) : path_(std::move(path)) {}

  // Forks and execs `argv` in a new process group, stdout to `out_path`, stderr to `log_path`;
  // the pid, or -1 with `error` set.
  static pid_t spawn(std::vector<std::string>& strings, const std::string& out_path,
                     const std::string& log_path, std::string& error) {
    std::vector<char*> argv;
    for (auto& s : strings) argv.push_back(s.data());
    argv.push_back(nullptr);
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (devnull < 0 || out < 0 || log < 0) {
      error = std::string("open: ") + std::strerror(errno);
      for (int fd : {devnull, out, log}) {
        if (fd >= 0) ::close(fd);
      }
      return -1;
    }
    pid_t pid = ::fork();
    if (pid == 0) {
      // Child: async-signal-safe calls only.
      ::setpgid(0, 0);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      for (int signo = 1; signo < NSIG; ++signo) {
        if (signo != SIGKILL && signo != SIGSTOP) ::signal(signo, SIG_DFL);
      }
      rlimit no_core{0, 0};
      ::setrlimit(RLIMIT_CORE, &no_core);
      if (::dup2(devnull, STDIN_FILENO) < 0 || ::dup2(out, STDOUT_FILENO) < 0 ||
          ::dup2(log, STDERR_FILENO) < 0) {
        ::_exit(126);
      }
      if (::syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
        for (int fd = 3; fd < 4096; ++fd) ::close(fd);
      }
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    int fork_errno = errno;
    ::close(devnull);
    ::close(out);
    ::close(log);
    if (pid < 0) {
      error = std::string("fork: ") + std::strerror(fork_errno);
      return -1;
    }
    ::setpgid(pid, pid);  // also here, so the group exists before any kill(-pid) below
    return pid;
  }

  // Waits for `pid` to exit (a pidfd polled up to the deadline); past it SIGKILLs the whole
  // group. Always reaps it.
  static ExitStatus wait_bounded(pid_t pid, std::chrono::steady_clock::duration timeout) {
    ExitStatus status;
    int exited = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    auto deadline = std::chrono::steady_clock::now() + timeout;
    int raw = 0;
    for (;;) {
      pid_t r = ::waitpid(pid, &raw, WNOHANG);
      if (r == pid) break;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) {
        ::kill(-pid, SIGKILL);
        while (::waitpid(pid, &raw, 0) < 0 && errno == EINTR) {
        }
        status.timed_out = true;
        break;
      }
      // Without a pidfd nothing reports the exit: look again every 5 ms.
      pollfd p{exited, POLLIN, 0};
      ::poll(&p, exited >= 0 ? 1 : 0, exited >= 0 ? static_cast<int>(left) : 5);
    }
    if (exited >= 0) ::close(exited);
    if (WIFEXITED(raw)) {
      status.exited = true;
      status.code = WEXITSTATUS(raw);
    } else if (WIFSIGNALED(raw)) {
      status.signaled = true;
      status.signo = WTERMSIG(raw);
    }
    return status;
  }

  std::string path_;
};

}  // namespace tern::test
