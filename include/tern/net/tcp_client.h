// TcpClient: one outgoing connection — a Connector to make it, then the TcpConnection it owns.
// Loop thread only.
#pragma once

#include <functional>
#include <memory>
#include <system_error>

#include "tern/net/connector.h"
#include "tern/net/tcp_connection.h"

namespace tern {

class TcpClient {
 public:
  using ErrorCallback = std::function<void(std::error_code)>;

  TcpClient(EventLoop& loop, InetAddress peer, ConnectOptions options = {});
  // Closes abruptly what is open (no callbacks); disconnect() is the orderly way.
  ~TcpClient();
  TcpClient(const TcpClient&) = delete;
  TcpClient& operator=(const TcpClient&) = delete;

  void on_connection(ConnectionCallback callback) { on_connection_ = std::move(callback); }
  // Every attempt failed: the error of the last one.
  void on_connect_error(ErrorCallback callback) { on_connect_error_ = std::move(callback); }
  void on_close(ConnectionCallback callback) { on_close_ = std::move(callback); }

  void connect();
  // Stops connecting, or closes the connection (on_close runs).
  void disconnect() noexcept;
  TcpConnection* connection() noexcept { return connection_.get(); }
  int attempts() const noexcept { return connector_.attempts(); }

 private:
  EventLoop& loop_;
  Connector connector_;
  std::unique_ptr<TcpConnection> connection_;
  ConnectionCallback on_connection_;
  ErrorCallback on_connect_error_;
  ConnectionCallback on_close_;
};

}  // namespace tern
