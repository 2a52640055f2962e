#include "access_log_writer.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#include "tern/base/logging.h"

namespace tern::apps {
namespace {

// "[30/Nov/2026:14:01:30 +0000]" for `now`, formatted once a second per thread (strftime and
// the time zone lookup cost more than the rest of the line).
std::string_view timestamp(int64_t now) {
  thread_local int64_t cached_second = -1;
  thread_local char text[40];
  thread_local size_t length = 0;
  if (now != cached_second) {
    time_t seconds = static_cast<time_t>(now);
    tm local{};
    localtime_r(&seconds, &local);
    length = std::strftime(text, sizeof text, "[%d/%b/%Y:%H:%M:%S %z]", &local);
    cached_second = now;
  }
  return {text, length};
}

// A quoted field's bytes, with '"', '\' and anything not printable ASCII as \xHH (as nginx
// does): a client cannot forge a line or a field.
void append_escaped(std::string& line, std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte > 0x7e || c == '"' || c == '\\') {
      line += "\\x";
      line += kHex[byte >> 4];
      line += kHex[byte & 0xf];
    } else {
      line += c;
    }
  }
}

void append_quoted_or_dash(std::string& line, std::string_view text) {
  line += '"';
  if (text.empty()) line += '-';
  else append_escaped(line, text);
  line += '"';
}

int open_append(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

}  // namespace

AccessLogWriter::AccessLogWriter(size_t capacity) : capacity_(capacity) {
  queue_.reserve(capacity_);
  writer_ = std::thread([this] { run(); });
}

AccessLogWriter::~AccessLogWriter() {
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = true;
  }
  queued_.notify_one();
  writer_.join();
  if (fd_ >= 0) ::close(fd_);
}

std::error_code AccessLogWriter::open(const std::string& path) {
  int fd = open_append(path);
  if (fd < 0) return {errno, std::generic_category()};
  int old = -1;
  {
    std::lock_guard lock(file_mutex_);
    old = fd_;
    fd_ = fd;
    path_ = path;
  }
  if (old >= 0) ::close(old);
  enabled_.store(true, std::memory_order_relaxed);
  return {};
}

std::error_code AccessLogWriter::reopen() {
  std::string path;
  {
    std::lock_guard lock(file_mutex_);
    path = path_;
  }
  if (path.empty()) return {};
  return open(path);
}

void AccessLogWriter::disable() { enabled_.store(false, std::memory_order_relaxed); }

void AccessLogWriter::enable() {
  std::lock_guard lock(file_mutex_);
  if (fd_ >= 0) enabled_.store(true, std::memory_order_relaxed);
}

std::string AccessLogWriter::path() const {
  std::lock_guard lock(file_mutex_);
  return path_;
}

std::string AccessLogWriter::format(const http::AccessEntry& entry, int64_t now) {
  std::string line;
  line.reserve(128 + entry.request_line.size() + entry.referer.size() + entry.user_agent.size());
  line += entry.remote.host();
  line += " - - ";
  line += timestamp(now);
  line += ' ';
  append_quoted_or_dash(line, entry.request_line);
  line += ' ';
  line += std::to_string(entry.status);
  line += ' ';
  line += entry.body_bytes == 0 ? std::string("-") : std::to_string(entry.body_bytes);
  line += ' ';
  append_quoted_or_dash(line, entry.referer);
  line += ' ';
  append_quoted_or_dash(line, entry.user_agent);
  line += '\n';
  return line;
}

void AccessLogWriter::record(const http::AccessEntry& entry) {
  if (!enabled_.load(std::memory_order_relaxed)) return;
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  std::string line = format(entry, now);
  bool wake = false;
  {
    std::lock_guard lock(queue_mutex_);
    if (queue_.size() >= capacity_) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    wake = queue_.empty();
    queue_.push_back(std::move(line));
  }
  if (wake) queued_.notify_one();
}

void AccessLogWriter::run() {
  std::vector<std::string> batch;
  batch.reserve(capacity_);
  for (;;) {
    bool stopping = false;
    {
      std::unique_lock lock(queue_mutex_);
      // The timeout is for report_drops: drops are reported within a second even when no
      // line follows them.
      queued_.wait_for(lock, std::chrono::seconds(1),
                       [&] { return stopping_ || !queue_.empty(); });
      batch.swap(queue_);
      stopping = stopping_;
    }
    write_batch(batch);
    batch.clear();
    report_drops();
    if (stopping) return;
  }
}

void AccessLogWriter::write_batch(const std::vector<std::string>& lines) {
  std::lock_guard lock(file_mutex_);
  if (fd_ < 0) return;
  constexpr size_t kMaxIov = 512;
  iovec iov[kMaxIov];
  size_t next = 0;
  while (next < lines.size()) {
    size_t count = 0;
    for (; count < kMaxIov && next + count < lines.size(); ++count) {
      iov[count] = {const_cast<char*>(lines[next + count].data()), lines[next + count].size()};
    }
    // O_APPEND on a regular file writes everything or fails (a full disk: the batch is lost
    // and said so, rather than retried forever).
    if (::writev(fd_, iov, static_cast<int>(count)) < 0) {
      static LogLimiter limiter;
      log_limited(limiter, LogLevel::error, "access log %s: write failed: %s", path_.c_str(),
                  std::strerror(errno));
    }
    next += count;
  }
}

void AccessLogWriter::report_drops() {
  uint64_t dropped = dropped_.load(std::memory_order_relaxed);
  if (dropped == dropped_reported_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_report_ < std::chrono::seconds(1)) return;
  last_report_ = now;
  log(LogLevel::warn, "access log: %llu lines dropped (queue of %zu full; the disk is slower "
      "than the requests)", static_cast<unsigned long long>(dropped - dropped_reported_),
      capacity_);
  dropped_reported_ = dropped;
}

}  // namespace tern::apps
