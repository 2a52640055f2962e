// The bounded read loop of the raw HTTP clients in the tests: appends what a blocking loopback
// socket receives to a buffer until the caller's condition holds, the peer ends the stream, or
// the time limit passes. Polling before each recv bounds the wait without a socket timeout.
//
// Thread rule: the thread that owns the socket and the buffer.
#pragma once

#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <string>

namespace tern::test {

// Reads `fd` into `buffer` until `done()` holds: true then. False when `limit` passes first, or
// when the peer ends the stream (sets `eof`) and `done()` still does not hold.
template <class Done>
bool read_until(int fd, std::string& buffer, bool& eof, std::chrono::milliseconds limit,
                Done done) {
  auto give_up = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (eof) return false;
    pollfd p{fd, POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        give_up - std::chrono::steady_clock::now());
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1) return false;
    char chunk[16384];
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) {
      eof = true;
      return done();
    }
    buffer.append(chunk, static_cast<size_t>(n));
  }
  return true;
}

}  // namespace tern::test
