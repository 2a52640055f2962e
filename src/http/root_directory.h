// RootDirectory: an open directory under which paths are opened with openat2(2) and
// RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS, so that no path, symlink or ".." reaches outside it.
// The kernel checks every component as it resolves; no user-space prefix check can race it.
//
// Thread rule: immutable after open(); any thread. Owns its directory descriptor.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "tern/base/file.h"
#include "tern/base/result.h"

namespace tern::http {

// What fstat(2) said about an opened path, the fields a static file needs.
struct FileStat {
  bool regular = false;
  bool directory = false;
  uint64_t size = 0;
  timespec mtime{};
};

// A path opened beneath the root: its descriptor and its metadata at open time.
struct OpenedPath {
  File file;
  FileStat stat;
};

class RootDirectory {
 public:
  // Opens `path`, which must be a directory. Without openat2 (ENOSYS: an old kernel, valgrind)
  // paths are walked a component at a time with O_NOFOLLOW: no symlink is followed at all.
  static Result<RootDirectory> open(const std::string& path);

  RootDirectory(RootDirectory&&) noexcept = default;
  RootDirectory& operator=(RootDirectory&&) noexcept = default;

  // Opens `relative` ("a/b.css"; "" or "." for the root itself) read-only beneath the root.
  // Never blocks on a FIFO (O_NONBLOCK; callers refuse anything but regular files and
  // directories). Errors: the open's errno (ENOENT, ENOTDIR, EXDEV for an escape, ELOOP, EACCES,
  // ...). Any thread.
  Result<OpenedPath> open_beneath(std::string_view relative) const;

 private:
  explicit RootDirectory(File directory) noexcept : directory_(std::move(directory)) {}
  File directory_;
};

}  // namespace tern::http
