// Logging: one line per event on stderr, with a level. Deliberately small: a server logs
// rarely (start, stop, errors it recovers from), never per request on the hot path.
#pragma once

#include <cstdarg>

namespace tern {

enum class LogLevel { debug, info, warn, error, off };

// Any thread. Messages below the level are dropped; default info (TERN_LOG_LEVEL overrides).
void set_log_level(LogLevel level) noexcept;
LogLevel log_level() noexcept;

// Any thread; printf-style; one write(2) per line so lines from threads never interleave.
void log(LogLevel level, const char* format, ...) noexcept __attribute__((format(printf, 2, 3)));

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
