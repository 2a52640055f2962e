// AccessLogWriter: tern-httpd's http::AccessLog. record() formats the Combined Log Format line
// on the connection's thread and queues it; a thread of its own writes the queue to the file,
// so a slow disk never blocks a loop. The queue is bounded: a line that finds it full is
// dropped and counted, and the writer reports the count in the error log, at most once a
// second.
//
//   127.0.0.1 - - [30/Nov/2026:14:01:30 +0000] "GET / HTTP/1.1" 200 1043 "-" "curl/7.88.1"
//
// Thread rule: record() from any thread, concurrently; open(), reopen(), disable() and the
// destructor from one thread (tern-httpd's main thread).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "tern/http/access_log.h"

namespace tern::apps {

class AccessLogWriter final : public http::AccessLog {
 public:
  static constexpr size_t kDefaultCapacity = 16384;  // lines waiting for the writer

  explicit AccessLogWriter(size_t capacity = kDefaultCapacity);
  // Writes what is queued, then stops the writer thread.
  ~AccessLogWriter() override;
  AccessLogWriter(const AccessLogWriter&) = delete;
  AccessLogWriter& operator=(const AccessLogWriter&) = delete;

  // Appends to the file at `path` (created 0644) from now on; on failure the error, and the
  // log stays as it was. Also turns a disabled log back on.
  std::error_code open(const std::string& path);
  // Opens the same path again (after a rotation renamed the file: SIGUSR1).
  std::error_code reopen();
  // Drops every line from now on (the config turned the log off), cheaply; enable() writes
  // to the file again.
  void disable();
  void enable();
  // The path of the file (empty before open()).
  std::string path() const;

  void record(const http::AccessEntry& entry) override;

  // Lines dropped because the queue was full, since the start. Any thread.
  uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }

  // The line for `entry` at `now` (seconds since the epoch), with its newline.
  static std::string format(const http::AccessEntry& entry, int64_t now);

 private:
  void run();
  void write_batch(const std::vector<std::string>& lines);
  void report_drops();

  const size_t capacity_;
  std::atomic<bool> enabled_{false};
  std::atomic<uint64_t> dropped_{0};
  uint64_t dropped_reported_ = 0;  // writer thread only
  std::chrono::steady_clock::time_point last_report_{};  // writer thread only

  std::mutex queue_mutex_;  // guards queue_ and stopping_
  std::condition_variable queued_;
  std::vector<std::string> queue_;
  bool stopping_ = false;

  mutable std::mutex file_mutex_;  // guards fd_ and path_: the writer writes while holding it
  int fd_ = -1;
  std::string path_;

  std::thread writer_;
};

}  // namespace tern::apps
