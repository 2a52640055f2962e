// Output: the gather list a protocol encodes a response into. A piece is either memory or a
// range of an open file:
//   append(string&&)      bytes the Output owns (moved in: a handler's body is never copied)
//   append_static(view)   bytes that outlive any write (literals, constant headers)
//   append_copy(view)     small bytes copied into the Output's arena; consecutive copies are
//                         one piece (one iovec), and the arena keeps its capacity across
//                         clear(), so a steady stream of responses allocates nothing here
//   append_file(range)    bytes of a file, sent from the file by the transport
// The session hands the whole list to its transport, which sends runs of memory pieces in one
// gathered write, each file piece from the file, in order, and copies only what the socket
// refuses.
//
// Not thread-safe; one per connection, reused (its capacity kept) from response to response.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tern/base/file.h"

namespace tern {

class Output {
 public:
  enum class Kind : uint8_t { memory, file };

  // Takes `bytes` (no copy); empty strings are skipped.
  void append(std::string&& bytes) {
    if (bytes.empty()) return;
    size_ += bytes.size();
    Piece& piece = push(Source::owned);
    piece.owned = std::move(bytes);
  }
  // Copies `bytes` into the arena, joined to the previous piece when that was a copy too.
  void append_copy(std::string_view bytes) {
    if (bytes.empty()) return;
    size_ += bytes.size();
    if (pieces_.empty() || pieces_.back().source != Source::arena) {
      Piece& piece = push(Source::arena);
      piece.at = arena_.size();  // an offset: the arena may move as it grows
      piece.length = 0;
    }
    arena_.append(bytes);
    pieces_.back().length += bytes.size();
  }
  // Refers to `bytes`, which must stay valid and unchanged until the write completes: string
  // literals and other constants.
  void append_static(std::string_view bytes) {
    if (bytes.empty()) return;
    size_ += bytes.size();
    Piece& piece = push(Source::borrowed);
    piece.address = bytes.data();
    piece.length = bytes.size();
  }
  // A range of an open file; the Output holds the file open until clear() or the transport
  // takes the range. Zero-length ranges are skipped.
  void append_file(FileRange range) {
    if (range.length == 0 || !range.file) return;
    size_ += range.length;
    Piece& piece = push(Source::file);
    piece.file = std::move(range);
  }

  bool empty() const noexcept { return pieces_.empty(); }
  uint64_t size() const noexcept { return size_; }  // bytes in all pieces, file bytes included
  size_t piece_count() const noexcept { return pieces_.size(); }
  Kind kind(size_t i) const noexcept {
    return pieces_[i].source == Source::file ? Kind::file : Kind::memory;
  }
  // A memory piece's bytes (empty for a file piece). A copied piece's view is valid until the
  // next append_copy or clear().
  std::string_view piece(size_t i) const noexcept {
    const Piece& p = pieces_[i];
    switch (p.source) {
      case Source::owned: return p.owned;
      case Source::arena: return std::string_view(arena_).substr(p.at, p.length);
      case Source::borrowed: return {p.address, p.length};
      case Source::file: return {};
    }
    return {};
  }
  // A file piece's range (an empty range for a memory piece).
  const FileRange& file(size_t i) const noexcept { return pieces_[i].file; }
  // Moves piece i's range out (no reference-count traffic), for the transport that sends it;
  // size() still counts it until clear().
  FileRange take_file(size_t i) noexcept { return std::move(pieces_[i].file); }
  // Moves piece i's owned bytes out (empty for any other piece): for a transport that keeps
  // the bytes until they are sent.
  std::string take(size_t i) noexcept { return std::move(pieces_[i].owned); }
  bool owned(size_t i) const noexcept { return pieces_[i].source == Source::owned; }

  // Drops every piece (and the files they hold); the pieces' and the arena's capacity stay
  // for the next response, the arena's only up to kKeptArena so one large copy does not pin
  // memory for the life of the connection.
  void clear() noexcept {
    pieces_.clear();
    size_ = 0;
    if (arena_.capacity() > kKeptArena) std::string().swap(arena_);
    else arena_.clear();
  }
  size_t arena_capacity() const noexcept { return arena_.capacity(); }

  static constexpr size_t kKeptArena = 64 * 1024;

 private:
  enum class Source : uint8_t { owned, arena, borrowed, file };
  struct Piece {
    Source source = Source::owned;
    size_t at = 0;                    // arena: the offset in arena_
    size_t length = 0;                // arena, borrowed
    const char* address = nullptr;    // borrowed
    std::string owned;
    FileRange file;
  };
  Piece& push(Source source) {
    Piece& piece = pieces_.emplace_back();
    piece.source = source;
    return piece;
  }

  std::vector<Piece> pieces_;
  std::string arena_;
  uint64_t size_ = 0;
};

}  // namespace tern
