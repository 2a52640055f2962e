#include "tern/net/tcp_server.h"

#include "tern/base/logging.h"
#include "tern/loop/event_loop.h"

namespace tern {

TcpServer::TcpServer(EventLoop& loop, InetAddress listen_address, TcpServerOptions options)
    : loop_(loop), address_(listen_address), options_(options) {}

TcpServer::~TcpServer() {
  loop_.cancel(drain_timer_);
  loop_.cancel(drain_check_);
  slots_.clear();  // each TcpConnection withdraws its ops and closes its fd
}

std::error_code TcpServer::start() {
  loop_.assert_in_loop_thread("TcpServer::start");
  if (acceptor_) return {};
  auto socket = Acceptor::listen(address_, options_.listen);
  if (!socket) return socket.error();
  acceptor_ = std::make_unique<Acceptor>(loop_, std::move(socket.value()));
  return acceptor_->start([this](Socket accepted) { adopt(std::move(accepted)); });
}

void TcpServer::stop_accepting() noexcept {
  if (acceptor_) acceptor_->stop();
}

InetAddress TcpServer::local_address() const {
  return acceptor_ ? acceptor_->local_address() : address_;
}

uint64_t TcpServer::fd_exhaustions() const noexcept {
  return acceptor_ ? acceptor_->fd_exhaustions() : 0;
}

void TcpServer::adopt(Socket socket) {
  if (options_.no_delay) socket.set_no_delay(true);
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  auto connection = std::make_unique<TcpConnection>(loop_, std::move(socket));
  TcpConnection& conn = *connection;
  slots_[slot].connection = std::move(connection);
  ++live_;
  conn.set_id(ConnId{loop_.handle(), slot, slots_[slot].generation});
  conn.set_release([this, slot](TcpConnection& closed) { release(closed, slot); });
  if (on_connection_) on_connection_(conn);
}

void TcpServer::release(TcpConnection& connection, uint32_t slot) {
  if (on_close_) on_close_(connection);
  ++slots_[slot].generation;
  slots_[slot].connection.reset();
  free_slots_.push_back(slot);
  --live_;
  finish_drain_if_done();
}

TcpConnection* TcpServer::find(ConnId id) const noexcept {
  if (id.loop != loop_.handle() || id.slot >= slots_.size() ||
      slots_[id.slot].generation != id.generation) {
    return nullptr;
  }
  return slots_[id.slot].connection.get();
}

void TcpServer::for_each_connection(const std::function<void(TcpConnection&)>& visit) {
  for (Slot& slot : slots_) {
    if (slot.connection) visit(*slot.connection);
  }
}

void TcpServer::drain(Duration deadline, std::function<void()> on_drained) {
  loop_.assert_in_loop_thread("TcpServer::drain");
  on_drained_ = std::move(on_drained);
  stop_accepting();
  // Lingering closes; the deadline below bounds them all.
  for_each_connection([deadline](TcpConnection& conn) { conn.close_gracefully(deadline); });
  drain_timer_ = loop_.run_after(deadline, [this] {
    drain_timer_ = TimerId{};
    if (live_ > 0) {
      log(LogLevel::warn, "drain deadline: closing %zu connections with unsent data", live_);
    }
    for_each_connection([](TcpConnection& conn) { conn.close(); });
  });
  // With no connection left to close, on_drained still runs from the loop, not from here.
  drain_check_ = loop_.run_after(Duration::zero(), [this] {
    drain_check_ = TimerId{};
    finish_drain_if_done();
  });
}

void TcpServer::finish_drain_if_done() {
  if (live_ != 0 || !on_drained_) return;
  loop_.cancel(drain_timer_);
  drain_timer_ = TimerId{};
  auto done = std::move(on_drained_);
  on_drained_ = nullptr;
  done();
}

}  // namespace tern
