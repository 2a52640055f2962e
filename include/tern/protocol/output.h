// Output: the gather list a protocol encodes a response into. Pieces are either bytes the
// Output owns (moved in: a handler's body is never copied) or bytes that outlive any write
// (literals, a protocol's constant headers). The session hands the whole list to its transport,
// which sends it in one gathered write and copies only what the socket refuses.
//
// Not thread-safe; one per connection, reused (its capacity kept) from response to response.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tern {

class Output {
 public:
  // Takes `bytes` (no copy); empty strings are skipped.
  void append(std::string&& bytes) {
    if (bytes.empty()) return;
    pieces_.push_back(Piece{std::move(bytes), {}});
    size_ += pieces_.back().owned.size();
  }
  // Copies `bytes`: for small pieces (a length prefix, a status line built on the stack).
  void append_copy(std::string_view bytes) {
    if (bytes.empty()) return;
    pieces_.push_back(Piece{std::string(bytes), {}});
    size_ += bytes.size();
  }
  // Refers to `bytes`, which must stay valid and unchanged until the write completes: string
  // literals and other constants.
  void append_static(std::string_view bytes) {
    if (bytes.empty()) return;
    pieces_.push_back(Piece{{}, bytes});
    size_ += bytes.size();
  }

  bool empty() const noexcept { return pieces_.empty(); }
  size_t size() const noexcept { return size_; }   // bytes in all pieces
  size_t piece_count() const noexcept { return pieces_.size(); }
  std::string_view piece(size_t i) const noexcept { return pieces_[i].bytes(); }
  // Moves piece i's owned bytes out (empty for a static piece): for a transport that keeps
  // the bytes until they are sent.
  std::string take(size_t i) noexcept { return std::move(pieces_[i].owned); }
  bool owned(size_t i) const noexcept { return pieces_[i].borrowed.data() == nullptr; }
  void clear() noexcept {
    pieces_.clear();
    size_ = 0;
  }

 private:
  struct Piece {
    std::string owned;
    std::string_view borrowed;
    std::string_view bytes() const noexcept {
      return borrowed.data() != nullptr ? borrowed : std::string_view(owned);
    }
  };
  std::vector<Piece> pieces_;
  size_t size_ = 0;
};

}  // namespace tern
