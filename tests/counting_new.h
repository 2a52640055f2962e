// A replacement global operator new that counts heap allocations, so a test can assert that a
// hot path makes none. Include it in exactly ONE translation unit of a test binary (it defines
// the replaceable global allocation functions, which a program may define once).
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace tern::test {
inline std::atomic<uint64_t> heap_allocations{0};
}  // namespace tern::test

void* operator new(size_t size) {
  tern::test::heap_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
// noinline: g++ 12 otherwise sees free() of a pointer from operator new and warns.
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, size_t) noexcept { std::free(p); }
