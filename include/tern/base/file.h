// File: an open file descriptor for reading, closed when the last owner lets go. Responses that
// send from the same file (an open-file cache hands one to many) share it.
// FileRange: bytes of such a file, sent from the file (sendfile, or a read into a connection's
// buffer on backends that perform the I/O) without the bytes passing through the caller.
//
// Thread rule: immutable after open; any thread. Reads never move the file's own offset
// (pread, sendfile with an offset), so one File serves many connections at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <system_error>

#include "tern/base/result.h"

namespace tern {

class File {
 public:
  // Takes `fd` (an open, readable regular file).
  explicit File(int fd) noexcept : fd_(fd) {}
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  File(File&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  File& operator=(File&& other) noexcept;

  // Opens `path` read-only (O_CLOEXEC).
  static Result<File> open_read(const std::string& path);

  int fd() const noexcept { return fd_; }
  // The size now (fstat), or the error.
  Result<uint64_t> size() const;

 private:
  int fd_ = -1;
};

// `length` bytes of `file` from `offset`. The range holds the file open until it is sent or
// dropped.
struct FileRange {
  std::shared_ptr<const File> file;
  uint64_t offset = 0;
  uint64_t length = 0;
};

}  // namespace tern
