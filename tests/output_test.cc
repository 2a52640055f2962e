// Output, the gather list: copies coalesce into one arena piece, the arena and the piece list
// keep their capacity across clear() (no allocation per response in steady state), file
// pieces are sized and kept in order, owned strings are handed over whole.
#include "tern/protocol/output.h"

#include <fcntl.h>

#include <cstdint>

#include <gtest/gtest.h>

// Every allocation of this binary is counted, so a test can tell whether a stretch of code
// allocated at all.
#include "counting_new.h"

namespace tern {
namespace {

std::string all_memory(const Output& out) {
  std::string bytes;
  for (size_t i = 0; i < out.piece_count(); ++i) bytes += out.piece(i);
  return bytes;
}

FileRange dev_null_range(uint64_t offset, uint64_t length) {
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  return FileRange{std::make_shared<const File>(fd), offset, length};
}

TEST(OutputTest, ConsecutiveCopiesAreOnePiece) {
  Output out;
  out.append_copy("HTTP/1.1 ");
  out.append_copy("200");
  out.append_copy(" OK\r\n");
  ASSERT_EQ(out.piece_count(), 1u);
  EXPECT_EQ(out.piece(0), "HTTP/1.1 200 OK\r\n");
  out.append_static("Server: tern\r\n");  // a constant breaks the run: it is not copied
  out.append_copy("Content-Length: ");
  out.append_copy("5\r\n\r\n");
  out.append(std::string("hello"));
  ASSERT_EQ(out.piece_count(), 4u);
  EXPECT_EQ(out.piece(2), "Content-Length: 5\r\n\r\n");
  EXPECT_EQ(all_memory(out), "HTTP/1.1 200 OK\r\nServer: tern\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(out.size(), all_memory(out).size());
}

// Pieces keep offsets into the arena, so a copy that makes the arena grow (and move) leaves
// the earlier pieces right.
TEST(OutputTest, CopiedPiecesSurviveTheArenaGrowing) {
  Output out;
  out.append_copy("first");
  out.append_static("|");
  out.append_copy(std::string(100'000, 'x'));
  EXPECT_EQ(out.piece(0), "first");
  EXPECT_EQ(out.piece(2).size(), 100'000u);
  EXPECT_EQ(out.size(), 100'006u);
}

TEST(OutputTest, SteadyStateAllocatesNothing) {
  Output out;
  auto encode_one = [&out] {
    out.append_copy("HTTP/1.1 200 OK\r\nContent-Length: ");
    out.append_copy("13");
    out.append_copy("\r\n\r\n");
    out.append_static("Hello, World!");
    out.append_copy("\r\n");
  };
  encode_one();  // the first response sizes the arena and the piece list
  const char* arena = out.piece(0).data();
  size_t capacity = out.arena_capacity();
  out.clear();
  uint64_t before = test::heap_allocations.load();
  for (int i = 0; i < 1000; ++i) {
    encode_one();
    out.clear();
  }
  uint64_t after = test::heap_allocations.load();
  EXPECT_EQ(after - before, 0u) << "allocations in 1000 responses";
  encode_one();
  EXPECT_EQ(out.piece(0).data(), arena);
  EXPECT_EQ(out.arena_capacity(), capacity);
}

// One response with a huge copy does not pin its arena for the life of the connection.
TEST(OutputTest, LargeArenaIsGivenBackAtClear) {
  Output out;
  out.append_copy(std::string(Output::kKeptArena * 4, 'x'));
  EXPECT_GE(out.arena_capacity(), Output::kKeptArena * 4);
  out.clear();
  EXPECT_LE(out.arena_capacity(), Output::kKeptArena);
}

TEST(OutputTest, FilePiecesAreSizedAndKeptInOrder) {
  Output out;
  out.append_copy("head");
  out.append_file(dev_null_range(10, 1000));
  out.append_file(dev_null_range(0, 0));  // empty: skipped
  out.append_file(FileRange{nullptr, 0, 5});  // no file: skipped
  out.append_static("tail");
  ASSERT_EQ(out.piece_count(), 3u);
  EXPECT_EQ(out.size(), 4u + 1000u + 4u);
  EXPECT_EQ(out.kind(0), Output::Kind::memory);
  EXPECT_EQ(out.kind(1), Output::Kind::file);
  EXPECT_EQ(out.kind(2), Output::Kind::memory);
  EXPECT_EQ(out.file(1).offset, 10u);
  EXPECT_EQ(out.file(1).length, 1000u);
  EXPECT_EQ(out.piece(1), "");
  EXPECT_EQ(out.file(0).file, nullptr);
}

TEST(OutputTest, TakeFileMovesTheRangeOut) {
  Output out;
  FileRange range = dev_null_range(3, 10);
  const File* file = range.file.get();
  out.append_file(std::move(range));
  FileRange taken = out.take_file(0);
  EXPECT_EQ(taken.file.get(), file);
  EXPECT_EQ(taken.file.use_count(), 1) << "the range was copied, not moved";
  EXPECT_EQ(taken.offset, 3u);
  EXPECT_EQ(taken.length, 10u);
}

TEST(OutputTest, ClearLetsTheFilesGo) {
  Output out;
  FileRange range = dev_null_range(0, 10);
  std::weak_ptr<const File> file = range.file;
  out.append_file(std::move(range));
  EXPECT_FALSE(file.expired());
  out.clear();
  EXPECT_TRUE(file.expired());
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(out.size(), 0u);
}

// The transport's fast path: one owned string is handed over whole; other pieces are not
// "owned" and take() gives nothing for them.
TEST(OutputTest, OnlyMovedInStringsCanBeTaken) {
  Output out;
  std::string body(1000, 'b');
  const char* bytes = body.data();
  out.append(std::move(body));
  ASSERT_TRUE(out.owned(0));
  std::string taken = out.take(0);
  EXPECT_EQ(taken.data(), bytes);
  out.clear();
  out.append_copy("copied");
  out.append_static("static");
  out.append_file(dev_null_range(0, 1));
  EXPECT_FALSE(out.owned(0));
  EXPECT_FALSE(out.owned(1));
  EXPECT_FALSE(out.owned(2));
  EXPECT_EQ(out.take(0), "");
}

TEST(FileTest, OpenReadSizesAndClosesOnDestruction) {
  int fd = -1;
  {
    auto file = File::open_read("/proc/self/exe");
    ASSERT_TRUE(file.ok()) << file.error().message();
    fd = file->fd();
    EXPECT_GE(fd, 0);
    EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
    auto size = file->size();
    ASSERT_TRUE(size.ok());
    EXPECT_GT(size.value(), 0u);
    File moved = std::move(file).value();
    EXPECT_EQ(moved.fd(), fd);
  }
  EXPECT_EQ(::fcntl(fd, F_GETFD), -1) << "the fd was not closed";
  auto missing = File::open_read("/nonexistent/tern");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error(), std::errc::no_such_file_or_directory);
}

}  // namespace
}  // namespace tern
