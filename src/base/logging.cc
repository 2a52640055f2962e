#include "tern/base/logging.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "tern/base/error.h"

namespace tern {
namespace {

LogLevel initial_level() {
  const char* env = std::getenv("TERN_LOG_LEVEL");
  if (env == nullptr) return LogLevel::info;
  if (std::strcmp(env, "debug") == 0) return LogLevel::debug;
  if (std::strcmp(env, "warn") == 0) return LogLevel::warn;
  if (std::strcmp(env, "error") == 0) return LogLevel::error;
  if (std::strcmp(env, "off") == 0) return LogLevel::off;
  return LogLevel::info;
}

std::atomic<LogLevel> g_level{initial_level()};

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
    case LogLevel::off: break;
  }
  return "";
}

// Where a line goes, and how it must be written there so that it can neither block nor raise
// SIGPIPE.
enum class SinkKind { plain, pipe, socket };

struct Sink {
  int fd;
  SinkKind kind;
};

SinkKind kind_of(int fd) noexcept {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return SinkKind::plain;
  if (S_ISFIFO(st.st_mode)) return SinkKind::pipe;
  if (S_ISSOCK(st.st_mode)) return SinkKind::socket;
  return SinkKind::plain;
}

// stderr. When it is a pipe, lines go through a description of our own opened O_NONBLOCK: the
// flag belongs to the open file description, so setting it on fd 2 would change it for the
// shell and every other process sharing the pipe. A reader that stops reading then costs
// dropped lines, never a blocked thread. (With no reader left the open fails; fd 2 is used and
// its writes fail with EPIPE.) fd 2 may be redirected at any time (the program's dup2, a test
// harness capturing stderr), so the sink follows what fd 2 is now: checked per line (an fstat;
// lines are rare and rate-limited), reopened when it changed. Under g_stderr_mutex, which the
// writer holds for the write too (the write cannot block: O_NONBLOCK for a pipe).
std::mutex g_stderr_mutex;
Sink g_stderr{-1, SinkKind::plain};
dev_t g_stderr_device = 0;
ino_t g_stderr_inode = 0;

Sink stderr_sink_locked() noexcept {
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) return {STDERR_FILENO, SinkKind::plain};
  if (g_stderr.fd >= 0 && st.st_dev == g_stderr_device && st.st_ino == g_stderr_inode) {
    return g_stderr;
  }
  if (g_stderr.fd > STDERR_FILENO) ::close(g_stderr.fd);
  g_stderr = Sink{STDERR_FILENO, kind_of(STDERR_FILENO)};
  g_stderr_device = st.st_dev;
  g_stderr_inode = st.st_ino;
  if (g_stderr.kind == SinkKind::pipe) {
    int own = ::open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (own >= 0) g_stderr.fd = own;
  }
  return g_stderr;
}

// The log file, when there is one. The fd number never changes once published: a reopen
// replaces the file behind it with dup3, so a writer on another thread never holds a closed
// or reused number.
std::mutex g_file_mutex;  // serialises set_log_file and reopen_log_file (rare), not writes
std::string g_file_path;  // guarded by g_file_mutex
std::atomic<int> g_file_fd{-1};
std::atomic<SinkKind> g_file_kind{SinkKind::plain};


// A write to a pipe whose reader has gone raises SIGPIPE in the writing thread, which kills a
// process that has not ignored it. Blocked around the write, and taken back if this write
// raised it, the signal costs only the line.
void write_to_pipe(int fd, const char* data, size_t length) noexcept {
  sigset_t pipe_signal;
  sigset_t saved;
  sigset_t pending;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, &saved);
  bool was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
  ssize_t n = ::write(fd, data, length);
  if (n < 0 && errno == EPIPE && !was_pending) {
    timespec zero{0, 0};
    sigtimedwait(&pipe_signal, nullptr, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
}

void write_to(Sink sink, const char* data, size_t length) noexcept {
  switch (sink.kind) {
    case SinkKind::pipe: write_to_pipe(sink.fd, data, length); break;
    case SinkKind::socket: {
      ssize_t ignored = ::send(sink.fd, data, length, MSG_DONTWAIT | MSG_NOSIGNAL);
      (void)ignored;
      break;
    }
    case SinkKind::plain: {
      ssize_t ignored = ::write(sink.fd, data, length);
      (void)ignored;
      break;
    }
  }
}

// One line, written whole or dropped.
void emit(const char* data, size_t length) noexcept {
  int saved_errno = errno;  // a log call must not disturb the caller's errno
  int fd = g_file_fd.load(std::memory_order_acquire);
  if (fd >= 0) {
    write_to(Sink{fd, g_file_kind.load(std::memory_order_relaxed)}, data, length);
  } else {
    std::lock_guard lock(g_stderr_mutex);
    write_to(stderr_sink_locked(), data, length);
  }
  errno = saved_errno;
}

void write_line(const char* prefix, uint64_t suppressed, const char* format, va_list args) {
  char line[1024];
  constexpr size_t kRoom = sizeof line - 1;  // the last byte is kept for '\n'
  int n = std::snprintf(line, kRoom, "tern %s: ", prefix);
  size_t len = n < 0 ? 0 : static_cast<size_t>(n);
  int body = std::vsnprintf(line + len, kRoom - len, format, args);
  if (body > 0) len += static_cast<size_t>(body);
  if (len > kRoom - 1) len = kRoom - 1;
  if (suppressed > 0) {
    int more = std::snprintf(line + len, kRoom - len, " (%llu similar lines suppressed)",
                             static_cast<unsigned long long>(suppressed));
    if (more > 0) len += static_cast<size_t>(more);
    if (len > kRoom - 1) len = kRoom - 1;
  }
  line[len++] = '\n';
  emit(line, len);
}

int open_log_file(const char* path) noexcept {
  // O_NONBLOCK: a path that names a FIFO must not block the open (or later writes).
  return ::open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);
}

// Makes `fd` (just opened) the log file, keeping the published fd number. Guarded by
// g_file_mutex.
std::error_code install_log_fd(int fd) noexcept {
  SinkKind kind = kind_of(fd);
  int current = g_file_fd.load(std::memory_order_relaxed);
  if (current < 0) {
    g_file_kind.store(kind, std::memory_order_relaxed);
    g_file_fd.store(fd, std::memory_order_release);
    return {};
  }
  std::error_code error;
  if (::dup3(fd, current, O_CLOEXEC) < 0) error = last_system_error();
  else g_file_kind.store(kind, std::memory_order_relaxed);
  ::close(fd);
  return error;
}

int64_t steady_now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void set_log_level(LogLevel level) noexcept { g_level.store(level, std::memory_order_relaxed); }
LogLevel log_level() noexcept { return g_level.load(std::memory_order_relaxed); }

void log(LogLevel level, const char* format, ...) noexcept {
  if (level < log_level()) return;
  va_list args;
  va_start(args, format);
  write_line(level_name(level), 0, format, args);
  va_end(args);
}

std::error_code set_log_file(const char* path) noexcept {
  std::lock_guard lock(g_file_mutex);
  int fd = open_log_file(path);
  if (fd < 0) return last_system_error();
  if (auto error = install_log_fd(fd)) return error;
  g_file_path = path;
  return {};
}

std::error_code reopen_log_file() noexcept {
  std::lock_guard lock(g_file_mutex);
  if (g_file_fd.load(std::memory_order_relaxed) < 0) return {};
  int fd = open_log_file(g_file_path.c_str());
  if (fd < 0) return last_system_error();
  return install_log_fd(fd);
}

bool LogLimiter::allow(uint64_t& suppressed) noexcept {
  int64_t now = steady_now_ns();
  int64_t next = next_allowed_ns_.load(std::memory_order_relaxed);
  if (now >= next && next_allowed_ns_.compare_exchange_strong(next, now + interval_ns_,
                                                              std::memory_order_relaxed)) {
    suppressed = suppressed_.exchange(0, std::memory_order_relaxed);
    return true;
  }
  suppressed_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void log_limited(LogLimiter& limiter, LogLevel level, const char* format, ...) noexcept {
  if (level < log_level()) return;
  uint64_t suppressed = 0;
  if (!limiter.allow(suppressed)) return;
  va_list args;
  va_start(args, format);
  write_line(level_name(level), suppressed, format, args);
  va_end(args);
}

void fatal(const char* format, ...) noexcept {
  va_list args;
  va_start(args, format);
  write_line("fatal", 0, format, args);
  va_end(args);
  std::abort();
}

}  // namespace tern
