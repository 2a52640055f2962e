// What every fuzz target here shares: failing loudly with a readable detail, checking that a
// view lies inside the input, and holding exactly the bytes delivered so far at an address of
// their own (so ASan sees a read past them, and a view kept from an earlier call reads freed
// memory).
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

namespace tern::fuzz {

// The detail is printed with every byte outside printable ASCII escaped: inputs hold NULs,
// which would cut a C string short.
[[noreturn]] inline void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "%s: %s\n", program_invocation_short_name, what);
  for (unsigned char c : detail) {
    if (c == '\n' || (c >= 0x20 && c < 0x7f)) {
      std::fputc(c, stderr);
    } else {
      std::fprintf(stderr, "\\x%02x", c);
    }
  }
  std::fputc('\n', stderr);
  std::abort();
}

inline bool inside(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

// Exactly `bytes`, at an address of its own; the previous copy is freed.
class Exact {
 public:
  std::string_view hold(std::string_view bytes) {
    auto fresh = std::make_unique<char[]>(bytes.size());
    if (!bytes.empty()) std::memcpy(fresh.get(), bytes.data(), bytes.size());
    bytes_ = std::move(fresh);
    return {bytes_.get(), bytes.size()};
  }

 private:
  std::unique_ptr<char[]> bytes_;
};

// A transcript stops after this many messages, counted over the whole transcript (never per
// delivery: a cap that restarted at each cut would end two transcripts of one input at
// different messages, and they would differ for no fault of the parser).
inline constexpr int kMaxMessages = 64;

}  // namespace tern::fuzz
