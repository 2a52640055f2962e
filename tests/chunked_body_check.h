// ChunkedBodyCheck: a streamed HTTP response checked as it arrives, for the tests that stream
// large bodies through the proxy: the head (which must say chunked, or give a Content-Length:
// sized() tells which), then the body (de-chunked) compared byte by byte with pattern_at (the
// bytes proxy-upstream's /big sends), without keeping it, to the last chunk and the empty
// trailer block, or to the length's last byte.
//
// Thread rule: one thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

namespace tern::test {

// The byte at `offset` of the large bodies the tests send ('a' to 'z', repeated).
inline char pattern_at(uint64_t offset) { return static_cast<char>('a' + offset % 26); }

class ChunkedBodyCheck {
 public:
  void feed(std::string_view bytes) {
    buffer_.append(bytes);
    while (!failed_ && !done_) {
      if (!step()) break;
    }
  }
  bool done() const { return done_; }
  bool failed() const { return failed_; }
  uint64_t body_bytes() const { return offset_; }
  const std::string& head() const { return head_; }
  bool sized() const { return sized_; }  // framed by Content-Length, not chunked

 private:
  bool step() {
    if (!head_done_) {
      size_t end = buffer_.find("\r\n\r\n");
      if (end == std::string::npos) return false;
      head_ = buffer_.substr(0, end);
      buffer_.erase(0, end + 4);
      head_done_ = true;
      if (head_.find("Transfer-Encoding: chunked") != std::string::npos) return true;
      size_t length = head_.find("\r\nContent-Length: ");
      failed_ = length == std::string::npos;
      if (failed_) return true;
      sized_ = true;
      left_ = std::stoull(head_.substr(length + 18));
      done_ = left_ == 0;
      return true;
    }
    if (left_ > 0) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(left_, buffer_.size()));
      if (n == 0) return false;
      for (size_t i = 0; i < n; ++i) {
        if (buffer_[i] != pattern_at(offset_ + i)) failed_ = true;
      }
      offset_ += n;
      left_ -= n;
      buffer_.erase(0, n);
      if (left_ == 0) expect_crlf_ = !sized_;
      done_ = sized_ && left_ == 0;
      return true;
    }
    size_t lf = buffer_.find("\r\n");
    if (lf == std::string::npos) return false;
    std::string line = buffer_.substr(0, lf);
    buffer_.erase(0, lf + 2);
    if (expect_crlf_) {
      expect_crlf_ = false;
      failed_ = !line.empty();
      return true;
    }
    if (in_trailers_) {
      done_ = line.empty();
      return true;
    }
    left_ = std::stoull(line, nullptr, 16);
    in_trailers_ = left_ == 0;
    return true;
  }

  std::string buffer_;
  std::string head_;
  bool head_done_ = false;
  bool sized_ = false;
  uint64_t left_ = 0;
  uint64_t offset_ = 0;
  bool expect_crlf_ = false;
  bool in_trailers_ = false;
  bool done_ = false;
  bool failed_ = false;
};

}  // namespace tern::test
