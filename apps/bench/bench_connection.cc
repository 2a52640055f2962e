#include "bench_connection.h"

#include <bit>
#include <cstring>

#include "thread_driver.h"
#include "tern/base/error.h"
#include "tern/loop/event_loop.h"

namespace tern::bench {
namespace {

constexpr size_t kOpenLoopQueue = 1 << 16;  // due requests one connection may hold back
constexpr Duration kFirstBackoff = std::chrono::milliseconds(50);
constexpr Duration kLastBackoff = std::chrono::seconds(1);

ConnectOptions connect_options(Duration timeout) {
  ConnectOptions options;
  options.timeout = timeout;
  options.max_attempts = 1;  // retries are ours: counted, paced by the driver
  return options;
}

}  // namespace

BenchConnection::BenchConnection(ThreadDriver& driver, uint32_t id, Workload& workload)
    : driver_(driver),
      id_(id),
      exchange_(workload.make_exchange(id)),
      session_(exchange_ ? nullptr : workload.make_session(id, driver.loop())),
      connector_(driver.loop(), driver.plan().peer, connect_options(driver.plan().timeout)) {
  sent_at_.resize(std::bit_ceil(driver.plan().depth));
  mask_ = sent_at_.size() - 1;
  if (driver.plan().rate > 0) queue_.resize(16);  // grows (rarely) while the server lags
}

BenchConnection::~BenchConnection() = default;

void BenchConnection::start() {
  parked_ = false;
  state_ = State::connecting;
  retry_at_ = TimePoint{};
  connect_started_ = Clock::now();
  if (session_) {
    session_->open(*this);  // opened() runs later
    return;
  }
  connector_.start([this](std::error_code error, Socket socket) {
    on_connected(error, std::move(socket));
  });
}

bool BenchConnection::connect_done(std::error_code error, const std::string& why) {
  driver_.refresh();
  auto& stats = driver_.stats();
  if (error) {
    state_ = State::waiting;
    ++stats.errors.connect;
    driver_.note_error(why);
    backoff_ = backoff_ == Duration{} ? kFirstBackoff : std::min(backoff_ * 2, kLastBackoff);
    retry_at_ = driver_.now() + backoff_;
    give_back_reservation();  // taken again when the retry starts
    driver_.connect_ended(*this, false);
    driver_.after_callback();
    return false;
  }
  backoff_ = Duration{};
  ++stats.totals.connects;
  if (driver_.measuring()) {
    stats.connect_latency.record(uint64_t((driver_.now() - connect_started_).count()));
  }
  return true;
}

void BenchConnection::opened(std::error_code error, const std::string& why) {
  if (state_ != State::connecting) return;
  if (!connect_done(error, why)) return;
  state_ = State::open;
  sent_here_ = 0;
  next_seq_ = 0;
  driver_.connect_ended(*this, true);
  pump();
  driver_.after_callback();
}

void BenchConnection::on_connected(std::error_code error, Socket socket) {
  if (!connect_done(error, error ? "cannot connect to " + driver_.plan().peer.to_string() +
                                       ": " + error.message()
                                 : std::string())) {
    return;
  }
  auto& stats = driver_.stats();
  socket.set_no_delay(true);
  conn_ = std::make_unique<TcpConnection>(driver_.loop(), std::move(socket));
  conn_->set_release([this](TcpConnection&) { released(); });
  state_ = State::open;
  sent_here_ = 0;
  next_seq_ = 0;
  exchange_->reset();
  auto on_read = [this](TcpConnection& c, std::error_code e, std::span<std::byte> data) {
    this->on_read(c, e, data);
  };
  std::error_code started =
      exchange_->reads_into_own_buffer()
          ? conn_->read_start(
                [this](TcpConnection&, size_t suggested) {
                  return exchange_->read_space(suggested);
                },
                on_read)
          : conn_->read_start(on_read);
  driver_.connect_ended(*this, true);
  if (started) {
    ++stats.errors.read;
    close(Duration{});
    return;
  }
  if (driver_.plan().role == Role::idle && !driver_.plan().idle_request) {
    settled_ = true;
    driver_.settled();
  }
  pump();
  driver_.after_callback();
}

void BenchConnection::pump() {
  if (state_ != State::open) return;
  const auto& plan = driver_.plan();
  size_t room = sent_at_.size() < plan.depth ? sent_at_.size() : plan.depth;
  room -= count_;
  if (plan.role != Role::load) {
    const uint64_t allowed = plan.role == Role::connrate || plan.idle_request ? 1 : 0;
    room = sent_here_ >= allowed ? 0 : std::min<size_t>(room, allowed - sent_here_);
  }
  if (room == 0) return;
  size_t n = 0;
  if (plan.rate > 0) {
    n = driver_.sending() ? std::min(room, queue_count_) : 0;
  } else if (reserved_) {
    if (driver_.sending()) {
      reserved_ = false;
      driver_.reservation_ended(true);
      n = 1 + driver_.grant(room - 1);
    }
  } else {
    n = driver_.grant(room);
  }
  if (n == 0) {
    // connrate with nothing more to send: the connection has no use.
    if (plan.role == Role::connrate && count_ == 0 && driver_.phase() == Phase::draining) {
      stop();
    }
    return;
  }
  size_t bytes = 0;
  std::error_code error;
  if (session_) {
    session_->issue(n, bytes);  // failures arrive later, through broken()
  } else {
    error = exchange_->send(*conn_, next_seq_, n, bytes);
  }
  auto& stats = driver_.stats();
  if (plan.rate > 0) {
    for (size_t i = 0; i < n; ++i) {
      sent_at_[(head_ + count_ + i) & mask_] = queue_[queue_head_];
      queue_head_ = (queue_head_ + 1) & (queue_.size() - 1);
    }
    queue_count_ -= n;
    driver_.dequeued(n);
  } else {
    const TimePoint now = driver_.now();
    for (size_t i = 0; i < n; ++i) sent_at_[(head_ + count_ + i) & mask_] = now;
  }
  count_ += n;
  next_seq_ += n;
  sent_here_ += n;
  driver_.sent(n);
  stats.totals.requests_sent += n;
  if (error) {
    ++stats.errors.write;
    driver_.note_error("write: " + error.message());
    close(Duration{});
    return;
  }
  stats.totals.bytes_sent += bytes;
}

void BenchConnection::enqueue(TimePoint intended) {
  if (queue_count_ == queue_.size() && queue_.size() < kOpenLoopQueue) {
    std::vector<TimePoint> larger(queue_.size() * 2);
    for (size_t i = 0; i < queue_count_; ++i) {
      larger[i] = queue_[(queue_head_ + i) & (queue_.size() - 1)];
    }
    queue_ = std::move(larger);
    queue_head_ = 0;
  }
  if (queue_count_ == queue_.size()) {
    ++driver_.stats().errors.timeout;  // hopelessly behind: dropped, counted
    driver_.dequeued(1);
    driver_.lost(0, 1);
    return;
  }
  queue_[(queue_head_ + queue_count_) & (queue_.size() - 1)] = intended;
  ++queue_count_;
  if (parked_) {  // closed when the budget was spent; a lost request came back to it
    parked_ = false;
    driver_.want_connect(*this);
  }
}

void BenchConnection::on_read(TcpConnection&, std::error_code error, std::span<std::byte> data) {
  driver_.refresh();
  auto& stats = driver_.stats();
  if (error) {
    if (error == std::errc::operation_canceled) return;
    if (error == make_error_code(errc::eof)) {
      exchange_->end_of_input(*this);
      if (state_ != State::open) {
        driver_.after_callback();
        return;
      }
      ++stats.errors.closed;
      if (driver_.plan().role == Role::idle) ++stats.closed_by_server;
    } else {
      ++stats.errors.read;
      driver_.note_error("read: " + error.message());
    }
    close(Duration{});
    driver_.after_callback();
    return;
  }
  stats.totals.bytes_received += data.size();
  if (driver_.measuring()) stats.measured_bytes_received += data.size();
  exchange_->receive(data, *this);
  pump();
  driver_.after_callback();
}

bool BenchConnection::reply(int status) {
  auto& stats = driver_.stats();
  if (count_ == 0) {
    broken(Failure::mismatch, "a reply for no request in flight");
    return false;
  }
  const TimePoint sent = sent_at_[head_];
  head_ = (head_ + 1) & mask_;
  --count_;
  driver_.replied();
  ++stats.totals.replies;
  if (driver_.measuring()) {
    // connrate: the whole cycle, from the start of the connect.
    const TimePoint from = driver_.plan().role == Role::connrate ? connect_started_ : sent;
    stats.latency.record(uint64_t((driver_.now() - from).count()));
    ++stats.measured_replies;
    const unsigned cls = unsigned(status) / 100u - 1u;
    if (cls < stats.status.size()) ++stats.status[cls];
  }
  if (driver_.plan().role == Role::connrate) {
    close(Duration{});
    return false;
  }
  if (driver_.plan().role == Role::idle && !settled_) {
    settled_ = true;
    driver_.settled();
  }
  return true;
}

void BenchConnection::broken(Failure failure, const std::string& why) {
  auto& errors = driver_.stats().errors;
  switch (failure) {
    case Failure::mismatch: ++errors.mismatch; break;
    case Failure::parse: ++errors.parse; break;
    case Failure::closed: ++errors.closed; break;
    case Failure::timeout: ++errors.timeout; break;
    case Failure::connect: ++errors.connect; break;
    case Failure::write: ++errors.write; break;
  }
  driver_.note_error(why);
  close(Duration{});
}

void BenchConnection::wake() { driver_.refresh(); }

void BenchConnection::received(size_t bytes) {
  auto& stats = driver_.stats();
  stats.totals.bytes_received += bytes;
  if (driver_.measuring()) stats.measured_bytes_received += bytes;
}

void BenchConnection::settle() {
  pump();
  driver_.after_callback();
}

void BenchConnection::last_reply() {
  if (state_ != State::open) return;  // connrate closed it already
  ++driver_.stats().errors.closed;
  if (driver_.plan().role == Role::idle) ++driver_.stats().closed_by_server;
  close(Duration{});
}

bool BenchConnection::check_timeout(TimePoint now, Duration timeout) {
  if (session_) return false;  // the client's command timeout is --timeout
  if (state_ != State::open || count_ == 0 || now - sent_at_[head_] < timeout) return false;
  ++driver_.stats().errors.timeout;
  driver_.note_error("no reply within --timeout");
  close(Duration{});
  return true;
}

void BenchConnection::close(Duration retry_delay) {
  if (state_ != State::open) return;
  state_ = State::closing;
  give_back_reservation();
  driver_.lost(count_, 0);
  head_ = count_ = 0;
  retry_at_ = driver_.now() + retry_delay;
  driver_.connection_closed();
  if (session_) {
    session_->abandon();  // the client stays; its pool reconnects on the next open()
    released();
    return;
  }
  conn_->close();  // released() runs once nothing in flight can touch it
}

void BenchConnection::released() {
  conn_.reset();
  if (state_ == State::stopped) return;
  state_ = State::waiting;
  const auto& plan = driver_.plan();
  if (plan.role == Role::idle) {
    if (!settled_) {
      settled_ = true;
      driver_.settled();
    }
    return;  // idle mode counts a connection the server closed; it does not reopen it
  }
  if (driver_.phase() == Phase::draining) return;
  if (retry_at_ <= Clock::now()) driver_.want_connect(*this);
}

void BenchConnection::give_back_reservation() noexcept {
  if (!reserved_) return;
  reserved_ = false;
  driver_.reservation_ended(false);
}

void BenchConnection::stop() noexcept {
  const State was = state_;
  state_ = State::stopped;
  connector_.stop();
  if (session_) session_->stop();
  give_back_reservation();
  if (was == State::open) {
    driver_.lost(count_, 0);
    head_ = count_ = 0;
    driver_.connection_closed();
    if (conn_) conn_->close();
  }
  if (queue_count_ > 0) {
    driver_.dequeued(queue_count_);
    queue_count_ = 0;
  }
}

}  // namespace tern::bench
