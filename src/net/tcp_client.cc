#include "tern/net/tcp_client.h"

#include "tern/loop/event_loop.h"

namespace tern {

TcpClient::TcpClient(EventLoop& loop, InetAddress peer, ConnectOptions options)
    : loop_(loop), connector_(loop, peer, options) {}

TcpClient::~TcpClient() = default;

void TcpClient::connect() {
  loop_.assert_in_loop_thread("TcpClient::connect");
  if (connection_) return;
  connector_.start([this](std::error_code error, Socket socket) {
    if (error) {
      if (on_connect_error_) on_connect_error_(error);
      return;
    }
    socket.set_no_delay(true);
    connection_ = std::make_unique<TcpConnection>(loop_, std::move(socket));
    connection_->on_close([this](TcpConnection& conn) {
      if (on_close_) on_close_(conn);
    });
    connection_->set_release([this](TcpConnection&) { connection_.reset(); });
    if (on_connection_) on_connection_(*connection_);
  });
}

void TcpClient::disconnect() noexcept {
  connector_.stop();
  if (connection_) connection_->close();
}

}  // namespace tern
