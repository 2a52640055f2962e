// Balancer: spreads new connections over a server's loops, in one of two ways (--balance):
//   round-robin  one acceptor, on loop 0, hands each socket to the next loop in turn (posted
//                to it). Even by count whatever the clients do; one thread accepts for all.
//   reuse-port   one SO_REUSEPORT listener per loop; the kernel picks the listener by a hash
//                of the connection's addresses. No hand-off, every loop accepts in parallel;
//                even only on average, and a loop that stops accepting strands its backlog.
// Each Acceptor lives on its loop: listen_on(i) and stop_on(i) run on loop i's thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <system_error>
#include <vector>

#include "tern/net/acceptor.h"
#include "tern/patterns/server_options.h"

namespace tern {

class EventLoop;

class Balancer {
 public:
  // Runs on the chosen loop's thread with a new connection's socket.
  using OnSocket = std::function<void(size_t loop_index, Socket)>;

  // `limit` (not owned, may be nullptr) counts the connections of every acceptor; each socket
  // given to `on_socket` holds one of its slots until its owner releases it.
  Balancer(InetAddress address, Balancing balancing, std::vector<EventLoop*> loops,
           OnSocket on_socket, ConnectionLimit* limit = nullptr);
  // On loop i's thread, loops in order from 0 (which binds and learns the port). With
  // round-robin only loop 0 listens; the call does nothing on the others.
  std::error_code listen_on(size_t index);
  // Listens on every loop in order: `run_on(i, task)` runs `task` on loop i's thread and waits.
  std::error_code listen_all(const std::function<void(size_t, std::function<void()>)>& run_on);
  // On loop i's thread: stops and destroys that loop's acceptor.
  void stop_on(size_t index) noexcept;
  InetAddress local_address() const noexcept { return address_; }

 private:
  void hand_on(Socket socket);

  InetAddress address_;
  Balancing balancing_;
  std::vector<EventLoop*> loops_;
  OnSocket on_socket_;
  ConnectionLimit* limit_;
  std::vector<std::unique_ptr<Acceptor>> acceptors_;  // [i] touched on loop i only
  size_t next_ = 0;                                   // loop 0's thread only
};

}  // namespace tern
