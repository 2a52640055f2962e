#include "tern/loop/watcher.h"

#include "backend/backend.h"
#include "tern/loop/event_loop.h"

namespace tern {

class Watcher::PollOp final : public Op, private OpHandler {
 public:
  explicit PollOp(int watched_fd) {
    code = OpCode::poll;
    fd = watched_fd;
    handler = this;
  }

  Watcher::Callback callback;
  bool active = false;

 private:
  void on_complete(Op&, const Completion& completion) override {
    if (!completion.more) active = false;
    if (completion.result == -ECANCELED) return;
    // A poller that cannot watch the fd (epoll and a regular file: EPERM) ends the watch with
    // ready::error, so the callback learns of it.
    uint32_t bits = completion.result < 0 ? ready::error : static_cast<uint32_t>(completion.result);
    Watcher::Callback run = callback;  // the callback may stop, restart or destroy the watcher
    run(bits);
  }
};

Watcher::Watcher(EventLoop& loop, int fd)
    : loop_(loop), fd_(fd), op_(std::make_unique<PollOp>(fd)) {}

Watcher::~Watcher() { loop_.backend().abandon(*op_); }

std::error_code Watcher::start(uint32_t interest, bool one_shot, Callback callback) {
  loop_.assert_in_loop_thread("Watcher::start");
  // A change of interest replaces the op: withdraw the old one without a completion.
  loop_.backend().abandon(*op_);
  op_->interest = interest;
  op_->multishot = !one_shot;
  op_->callback = std::move(callback);
  if (auto error = loop_.backend().submit(*op_)) {
    op_->active = false;
    return error;
  }
  op_->active = true;
  return {};
}

void Watcher::stop() noexcept {
  loop_.assert_in_loop_thread("Watcher::stop");
  loop_.backend().abandon(*op_);
  op_->active = false;
}

void Watcher::forget_fd() noexcept {
  loop_.assert_in_loop_thread("Watcher::forget_fd");
  stop();
  loop_.backend().forget(fd_);
}

bool Watcher::active() const noexcept { return op_->active; }

}  // namespace tern
