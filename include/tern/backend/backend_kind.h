// The backends a loop can run on, chosen at run time (`--backend`).
#pragma once

#include <optional>
#include <span>
#include <string_view>

namespace tern {

enum class BackendKind {
  select,     // select(2): portable, fds < FD_SETSIZE only, O(n) per wait
  poll,       // poll(2): any fd number, O(n) per wait
  epoll,      // epoll, level-triggered: interest updated lazily, once per loop iteration
  epoll_et,   // epoll, edge-triggered: registered once per fd, never modified
  uring,      // io_uring: the kernel performs the I/O (Proactor); falls back to epoll if absent
  aio,        // POSIX AIO (glibc, helper threads) for reads and writes: the textbook Proactor
  sigio,      // signal-driven I/O: O_ASYNC + F_SETSIG, a real-time signal read via signalfd
};

std::string_view to_string(BackendKind kind) noexcept;
std::optional<BackendKind> parse_backend_kind(std::string_view name) noexcept;
std::span<const BackendKind> all_backend_kinds() noexcept;
// "select|poll|epoll|epoll-et|uring|aio|sigio", for help texts and error messages.
std::string_view backend_kind_names() noexcept;

}  // namespace tern
