#include "tern/base/logging.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

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

void write_line(const char* prefix, const char* format, va_list args) {
  char line[1024];
  int n = std::snprintf(line, sizeof line, "tern %s: ", prefix);
  int body = std::vsnprintf(line + n, sizeof line - n - 1, format, args);
  size_t len = static_cast<size_t>(n) + (body < 0 ? 0 : static_cast<size_t>(body));
  if (len > sizeof line - 2) len = sizeof line - 2;
  line[len++] = '\n';
  ssize_t ignored = ::write(STDERR_FILENO, line, len);
  (void)ignored;
}

}  // namespace

void set_log_level(LogLevel level) noexcept { g_level.store(level, std::memory_order_relaxed); }
LogLevel log_level() noexcept { return g_level.load(std::memory_order_relaxed); }

void log(LogLevel level, const char* format, ...) noexcept {
  if (level < log_level()) return;
  va_list args;
  va_start(args, format);
  write_line(level_name(level), format, args);
  va_end(args);
}

void fatal(const char* format, ...) noexcept {
  va_list args;
  va_start(args, format);
  write_line("fatal", format, args);
  va_end(args);
  std::abort();
}

}  // namespace tern
