// RootDirectory: openat2(2) through syscall(2) (glibc 2.36 has no wrapper).
#include "root_directory.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <string_view>

#include "tern/base/error.h"

namespace tern::http {
namespace {

// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, holding a handler
// thread; it changes nothing for regular files (reads and sendfile of page-cache data).
// O_NOCTTY: a terminal device in the root must not become the process's controlling tty.
// No O_NOFOLLOW: a symlink that stays beneath the root is meant to work; RESOLVE_BENEATH
// refuses any that leave it, and RESOLVE_NO_MAGICLINKS the /proc/self/fd kind.
constexpr uint64_t kOpenFlags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
constexpr uint64_t kResolveFlags = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;

int openat2_beneath(int directory, const char* relative) noexcept {
  open_how how{};
  how.flags = kOpenFlags;
  how.resolve = kResolveFlags;
  for (;;) {
    long fd = ::syscall(SYS_openat2, directory, relative, &how, sizeof how);
    // EAGAIN: a concurrent rename raced the ".." checks of RESOLVE_BENEATH; the kernel asks
    // for a retry. EINTR: a signal arrived while the open was waiting.
    if (fd < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    return static_cast<int>(fd);
  }
}

// Without openat2 (kernels before 5.6, and valgrind, which does not know the call): the
// path, already normalised (no "." or ".." segments), is walked one component at a time, each
// opened with O_NOFOLLOW, so no symlink is followed at all: safe, and stricter (a symlink
// inside the root is refused too).
int open_walking(int directory, std::string_view relative) noexcept {
  int current = directory;
  int result = -1;
  for (;;) {
    size_t slash = relative.find('/');
    std::string component(relative.substr(0, slash));
    bool last = slash == std::string_view::npos;
    int flags = last ? static_cast<int>(kOpenFlags) | O_NOFOLLOW
                     : O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    int next = ::openat(current, component.empty() ? "." : component.c_str(), flags);
    if (current != directory) ::close(current);
    if (next < 0 || last) {
      result = next;
      break;
    }
    current = next;
    relative.remove_prefix(slash + 1);
  }
  return result;
}

bool openat2_missing = false;  // set once, at the first RootDirectory::open

int open_beneath_fd(int directory, const char* relative) noexcept {
  return openat2_missing ? open_walking(directory, relative) : openat2_beneath(directory, relative);
}

FileStat stat_of(const struct stat& st) noexcept {
  FileStat out;
  out.regular = S_ISREG(st.st_mode);
  out.directory = S_ISDIR(st.st_mode);
  out.size = static_cast<uint64_t>(st.st_size);
  out.mtime = st.st_mtim;
  return out;
}

}  // namespace

Result<RootDirectory> RootDirectory::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return last_system_error();
  File directory(fd);
  // Probe openat2 once here; without it (ENOSYS), paths are walked instead (open_walking).
  int probe = openat2_beneath(fd, ".");
  if (probe < 0 && errno == ENOSYS) {
    openat2_missing = true;
    probe = open_walking(fd, ".");
  }
  if (probe < 0) return last_system_error();
  ::close(probe);
  return RootDirectory(std::move(directory));
}

Result<OpenedPath> RootDirectory::open_beneath(std::string_view relative) const {
  // A NUL would end the name early: a different file than the one asked for.
  if (relative.find('\0') != std::string_view::npos) return system_error(ENOENT);
  std::string name = relative.empty() ? std::string(".") : std::string(relative);
  int fd = open_beneath_fd(directory_.fd(), name.c_str());
  if (fd < 0) return last_system_error();
  File file(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return last_system_error();
  return OpenedPath{std::move(file), stat_of(st)};
}

}  // namespace tern::http
