// Logging: one line per event, with a level, on stderr or in a log file. Deliberately small: a
// server logs rarely (start, stop, errors it recovers from), never per request on the hot path;
// a line that a client can trigger goes through a LogLimiter. Logging never kills or blocks
// the process: a line that cannot be written at once (a full pipe, a reader that has gone) is
// dropped.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <system_error>

namespace tern {

enum class LogLevel { debug, info, warn, error, off };

// Any thread. Messages below the level are dropped; default info (TERN_LOG_LEVEL overrides).
void set_log_level(LogLevel level) noexcept;
LogLevel log_level() noexcept;

// Any thread; printf-style; one write(2) per line so lines from threads never interleave.
void log(LogLevel level, const char* format, ...) noexcept __attribute__((format(printf, 2, 3)));

// Any thread. From now on lines go to the file at `path` (appended to, created 0644) instead
// of stderr; a second call switches files. On failure returns the error and the destination
// stays as it was.
std::error_code set_log_file(const char* path) noexcept;

// Any thread (a program calls it on SIGUSR1, after a rotation renamed the file). Opens the log
// file's path again and writes there from now on; a line written meanwhile lands in one file
// or the other, never nowhere. Without a log file it does nothing. On failure returns the
// error and the old file stays in use.
std::error_code reopen_log_file() noexcept;

// Lets through the first occurrence of a log line, then at most one per `interval`, counting
// the others: for lines a client can trigger (a connection storm must not become a log flood).
// Any thread: one limiter may be shared by every thread that logs the same event.
class LogLimiter {
 public:
  explicit LogLimiter(std::chrono::milliseconds interval = std::chrono::seconds(1)) noexcept
      : interval_ns_(std::chrono::nanoseconds(interval).count()) {}
  LogLimiter(const LogLimiter&) = delete;
  LogLimiter& operator=(const LogLimiter&) = delete;

  // Any thread. True when this occurrence may be logged; `suppressed` is then how many
  // occurrences were refused since the last one let through.
  bool allow(uint64_t& suppressed) noexcept;

 private:
  const int64_t interval_ns_;
  std::atomic<int64_t> next_allowed_ns_{INT64_MIN};
  std::atomic<uint64_t> suppressed_{0};
};

// Any thread; log() through `limiter`. A line let through after refused ones ends with
// " (N similar lines suppressed)". A line below the level does not use up the limiter.
void log_limited(LogLimiter& limiter, LogLevel level, const char* format, ...) noexcept
    __attribute__((format(printf, 3, 4)));

// Aborts with a message: for misuse of the API (a broken precondition), never for runtime
// conditions such as a peer that vanished.
[[noreturn]] void fatal(const char* format, ...) noexcept __attribute__((format(printf, 1, 2)));

}  // namespace tern

#define TERN_CHECK(cond, ...)                 \
  do {                                        \
    if (__builtin_expect(!(cond), 0)) {       \
      ::tern::fatal(__VA_ARGS__);             \
    }                                         \
  } while (0)
