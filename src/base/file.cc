#include "tern/base/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tern/base/error.h"

namespace tern {

File::~File() {
  if (fd_ >= 0) ::close(fd_);
}

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

Result<File> File::open_read(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return last_system_error();
  return File(fd);
}

Result<uint64_t> File::size() const {
  struct stat status {};
  if (::fstat(fd_, &status) != 0) return last_system_error();
  return static_cast<uint64_t>(status.st_size);
}

}  // namespace tern
