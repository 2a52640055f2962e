// TcpServer: accepts on one loop and owns the connections it accepts. Loop thread only.
// A server that is never started serves sockets accepted elsewhere (adopt()): the multi-loop
// models accept on one loop and hand sockets to the loop that serves them.
//
//   tern::TcpServer server(loop, tern::InetAddress::loopback_v4(9000));
//   server.on_connection([](tern::TcpConnection& conn) { conn.read_start(...); });
//   if (auto error = server.start()) { ... }
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <system_error>
#include <vector>

#include "tern/base/clock.h"
#include "tern/loop/timer_id.h"
#include "tern/net/acceptor.h"
#include "tern/net/tcp_connection.h"

namespace tern {

struct TcpServerOptions {
  ListenOptions listen;
  bool no_delay = true;  // TCP_NODELAY on accepted connections
};

class TcpServer {
 public:
  TcpServer(EventLoop& loop, InetAddress listen_address, TcpServerOptions options = {});
  // Closes what is left abruptly (no callbacks). drain() first for a graceful stop.
  ~TcpServer();
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;

  // Runs for each new connection; start reading there.
  void on_connection(ConnectionCallback callback) { on_connection_ = std::move(callback); }
  // Runs when a connection has closed, just before it is destroyed.
  void on_close(ConnectionCallback callback) { on_close_ = std::move(callback); }

  // Makes `socket` (connected, non-blocking) a connection of this server.
  void adopt(Socket socket);

  // Binds, listens and starts accepting: EADDRINUSE and the like come back here.
  std::error_code start();
  void stop_accepting() noexcept;
  // Stops accepting and reading, lets each connection's queued writes go out, sends FIN, then
  // discards input until the peer closes (a lingering close: no reset destroys what it has not
  // read yet); closes what is still open at `deadline`, then runs on_drained.
  void drain(Duration deadline, std::function<void()> on_drained);

  // The bound address (with the real port when started on port 0).
  InetAddress local_address() const;
  size_t connection_count() const noexcept { return live_; }
  TcpConnection* find(ConnId id) const noexcept;  // nullptr once that connection closed
  void for_each_connection(const std::function<void(TcpConnection&)>& visit);
  uint64_t fd_exhaustions() const noexcept;

 private:
  struct Slot {
    std::unique_ptr<TcpConnection> connection;
    uint32_t generation = 0;
  };
  void release(TcpConnection& connection, uint32_t slot);
  void finish_drain_if_done();

  EventLoop& loop_;
  InetAddress address_;
  TcpServerOptions options_;
  std::unique_ptr<Acceptor> acceptor_;
  ConnectionCallback on_connection_;
  ConnectionCallback on_close_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
  size_t live_ = 0;
  std::function<void()> on_drained_;
  TimerId drain_timer_;
  TimerId drain_check_;
};

}  // namespace tern
