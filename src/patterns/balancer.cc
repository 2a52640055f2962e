#include "patterns/balancer.h"

#include "tern/loop/event_loop.h"

namespace tern {

Balancer::Balancer(InetAddress address, Balancing balancing, std::vector<EventLoop*> loops,
                   OnSocket on_socket, ConnectionLimit* limit)
    : address_(address),
      balancing_(balancing),
      loops_(std::move(loops)),
      on_socket_(std::move(on_socket)),
      limit_(limit),
      acceptors_(loops_.size()) {}

std::error_code Balancer::listen_on(size_t index) {
  if (balancing_ == Balancing::round_robin && index != 0) return {};
  ListenOptions options;
  options.reuse_port = balancing_ == Balancing::reuse_port;
  auto socket = Acceptor::listen(address_, options);
  if (!socket) return socket.error();
  auto acceptor = std::make_unique<Acceptor>(*loops_[index], std::move(socket.value()), limit_);
  // Later listeners bind the port the first one got (port 0 asks the kernel for one).
  if (index == 0) address_ = acceptor->local_address();
  std::error_code error;
  if (balancing_ == Balancing::round_robin) {
    error = acceptor->start([this](Socket s) { hand_on(std::move(s)); });
  } else {
    error = acceptor->start([this, index](Socket s) { on_socket_(index, std::move(s)); });
  }
  if (error) return error;
  acceptors_[index] = std::move(acceptor);
  return {};
}

std::error_code Balancer::listen_all(
    const std::function<void(size_t, std::function<void()>)>& run_on) {
  for (size_t i = 0; i < loops_.size(); ++i) {
    std::error_code error;
    run_on(i, [&] { error = listen_on(i); });
    if (error) return error;
  }
  return {};
}

void Balancer::stop_on(size_t index) noexcept { acceptors_[index].reset(); }

void Balancer::hand_on(Socket socket) {
  size_t target = next_;
  next_ = (next_ + 1) % loops_.size();
  if (target == 0) {
    on_socket_(0, std::move(socket));
    return;
  }
  // Task is a std::function (copyable), so the move-only socket travels in a shared holder,
  // which also closes it if the loop stops before the task runs.
  auto holder = std::make_shared<Socket>(std::move(socket));
  loops_[target]->post(
      [this, target, holder = std::move(holder)] { on_socket_(target, std::move(*holder)); });
}

}  // namespace tern
