#include "serving_loops.h"

#include <memory>
#include <optional>
#include <utility>

namespace tern::apps {
namespace {

thread_local proxy::TcpProxy* tcp_proxy_of_this_loop = nullptr;

// The answers of one gather() so far; the last loop to answer hands them on.
struct Gathering {
  std::mutex mutex;
  size_t remaining = 0;
  std::vector<LoopReport> reports;
  ServingLoops::Done done;

  void answer(std::optional<LoopReport> report) {
    ServingLoops::Done finish;
    {
      std::lock_guard lock(mutex);
      if (report) reports.push_back(std::move(*report));
      if (--remaining > 0) return;
      finish = std::move(done);
    }
    finish(std::move(reports));
  }
};

}  // namespace

void set_loop_tcp_proxy(proxy::TcpProxy* proxy) noexcept { tcp_proxy_of_this_loop = proxy; }

proxy::UpstreamTable* loop_upstream_table() noexcept {
  if (proxy::HttpProxy* http = proxy::loop_proxy()) return &http->upstreams();
  if (tcp_proxy_of_this_loop != nullptr) return &tcp_proxy_of_this_loop->upstreams();
  return nullptr;
}

LoopReport loop_report() {
  LoopReport report;
  if (proxy::HttpProxy* http = proxy::loop_proxy()) {
    report.upstreams = http->upstreams().snapshot();
    report.http = http->stats();
    report.balance = http->upstreams().balancer().algorithm();
    report.http_mode = true;
    report.retry_budget_available = http->retry_budget().available();
  } else if (tcp_proxy_of_this_loop != nullptr) {
    report.upstreams = tcp_proxy_of_this_loop->upstreams().snapshot();
    report.tcp = tcp_proxy_of_this_loop->stats();
    report.balance = tcp_proxy_of_this_loop->upstreams().balancer().algorithm();
    report.retry_budget_available = tcp_proxy_of_this_loop->retry_budget().available();
  }
  return report;
}

ServingLoops::ServingLoops(size_t capacity) : loops_(capacity) {}

void ServingLoops::attach(size_t index, LoopHandle loop) {
  std::lock_guard lock(mutex_);
  if (index >= loops_.size()) loops_.resize(index + 1);
  loops_[index] = loop;
}

void ServingLoops::detach(size_t index) {
  std::lock_guard lock(mutex_);
  if (index < loops_.size()) loops_[index] = LoopHandle{};
}

size_t ServingLoops::attached() const { return snapshot().size(); }

std::vector<LoopHandle> ServingLoops::snapshot() const {
  std::lock_guard lock(mutex_);
  std::vector<LoopHandle> live;
  for (LoopHandle loop : loops_) {
    if (loop.valid()) live.push_back(loop);
  }
  return live;
}

void ServingLoops::post_all(const std::function<void()>& task) const {
  for (LoopHandle loop : snapshot()) post_to(loop, [task] { task(); });
}

void ServingLoops::gather(Collect collect, Done done) const {
  std::vector<LoopHandle> loops = snapshot();
  if (loops.empty()) {
    done({});
    return;
  }
  auto gathering = std::make_shared<Gathering>();
  gathering->remaining = loops.size();
  gathering->done = std::move(done);
  auto shared_collect = std::make_shared<Collect>(std::move(collect));
  for (LoopHandle loop : loops) {
    // A loop that is gone (or stopping) destroys the task unrun: it answers with nothing, so
    // the request is still answered. The guard's destructor does that.
    struct Answer {
      std::shared_ptr<Gathering> gathering;
      bool answered = false;
      Answer(std::shared_ptr<Gathering> g) : gathering(std::move(g)) {}
      Answer(Answer&& other) noexcept
          : gathering(std::move(other.gathering)), answered(std::exchange(other.answered, true)) {}
      ~Answer() {
        if (!answered && gathering) gathering->answer(std::nullopt);
      }
    };
    post_to(loop, [answer = Answer(gathering), shared_collect]() mutable {
      answer.answered = true;
      answer.gathering->answer((*shared_collect)());
    });
  }
}

}  // namespace tern::apps
