#include "tern/net/connection_pool.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <string>

#include "tern/base/logging.h"
#include "tern/loop/event_loop.h"

namespace tern {
namespace {

class PoolErrorCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tern.pool"; }
  std::string message(int value) const override {
    switch (static_cast<pool_errc>(value)) {
      case pool_errc::closed: return "connection pool closed";
      case pool_errc::queue_full: return "connection pool at its limit and its wait queue full";
      case pool_errc::wait_timeout: return "no pooled connection within the wait deadline";
      case pool_errc::upstream_down: return "upstream marked down";
    }
    return "unknown connection pool error";
  }
};

}  // namespace

const std::error_category& pool_error_category() noexcept {
  static const PoolErrorCategory category;
  return category;
}

// ---------------------------------------------------------------------------------------------
// PooledConnection

PooledConnection::PooledConnection(PooledConnection&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      slot_(other.slot_),
      generation_(other.generation_),
      reused_(other.reused_) {}

PooledConnection& PooledConnection::operator=(PooledConnection&& other) noexcept {
  if (this != &other) {
    release();
    pool_ = std::exchange(other.pool_, nullptr);
    slot_ = other.slot_;
    generation_ = other.generation_;
    reused_ = other.reused_;
  }
  return *this;
}

TcpConnection* PooledConnection::get() const noexcept {
  if (!pool_) return nullptr;
  ConnectionPool::Slot* slot = pool_->find(slot_, generation_);
  if (!slot || slot->state != ConnectionPool::SlotState::leased) return nullptr;
  return slot->connection.get();
}

void PooledConnection::mark_broken() noexcept {
  if (!pool_) return;
  if (ConnectionPool::Slot* slot = pool_->find(slot_, generation_)) slot->reusable = false;
}

void PooledConnection::release() noexcept {
  if (!pool_) return;
  ConnectionPool* pool = std::exchange(pool_, nullptr);
  pool->give_back(slot_, generation_);
}

// ---------------------------------------------------------------------------------------------
// The pool

ConnectionPool::ConnectionPool(EventLoop& loop, InetAddress upstream, ConnectionPoolOptions options)
    : loop_(loop), upstream_(upstream), options_(options) {
  loop_.assert_in_loop_thread("ConnectionPool::ConnectionPool");
  TERN_CHECK(options_.max_connections > 0, "ConnectionPool: max_connections must be at least 1");
  TERN_CHECK(options_.down_after_failures > 0,
             "ConnectionPool: down_after_failures must be at least 1");
}

ConnectionPool::~ConnectionPool() {
  TERN_CHECK(handles_ == 0,
             "ConnectionPool for %s destroyed with %zu leases out: return them first",
             upstream_.to_string().c_str(), handles_);
  loop_.cancel(wait_timer_);
  loop_.cancel(idle_timer_);
  loop_.cancel(probe_retry_timer_);
  loop_.cancel(closed_timer_);
  probe_.reset();
  connectors_.clear();  // each stops its connect
  slots_.clear();       // each TcpConnection withdraws its ops and closes its fd, no callbacks
}

ConnectionPool::CheckoutId ConnectionPool::checkout(CheckoutCallback callback) {
  loop_.assert_in_loop_thread("ConnectionPool::checkout");
  if (closed_) {
    callback(make_error_code(pool_errc::closed));
    return 0;
  }
  if (auto slot = take_idle()) {
    lend(*slot, callback);
    return 0;
  }
  if (!health_.up) {
    ++counters_.down_rejections;
    callback(make_error_code(pool_errc::upstream_down));
    return 0;
  }
  if (open_ >= options_.max_connections) {
    if (unmatched_requests() >= options_.max_waiters) {
      ++counters_.queue_full;
      callback(make_error_code(pool_errc::queue_full));
      return 0;
    }
    ++counters_.waits;
  }
  CheckoutId id = next_id_++;
  requests_.push_back(Request{id, std::move(callback), loop_.now() + options_.wait_timeout});
  arm_wait_timer();
  serve();  // may answer it at once (a connect that failed before it started)
  return id;
}

bool ConnectionPool::cancel_checkout(CheckoutId id) noexcept {
  auto it = std::find_if(requests_.begin(), requests_.end(),
                         [id](const Request& r) { return r.id == id; });
  if (it == requests_.end()) return false;
  requests_.erase(it);
  return true;
}

// --- lending and returning

// The most recently returned idle connection that is still usable; stale ones met on the way
// are closed.
std::optional<uint32_t> ConnectionPool::take_idle() {
  while (!idle_.empty()) {
    uint32_t slot = idle_.back();
    if (fresh(slot)) {
      idle_.pop_back();
      return slot;
    }
    ++counters_.stale_dropped;
    close_slot(slot);  // removes it from idle_
  }
  return std::nullopt;
}

// The idle read reports a FIN or stray bytes only once the loop gets to it; the peek sees them
// as soon as the kernel has them, so a connection the upstream just closed is never lent. One
// system call per reuse: bytes kept by the connection itself (after a read_stop) were checked
// when it came back, and since then the idle read takes whatever arrives.
bool ConnectionPool::fresh(uint32_t slot) const noexcept {
  const TcpConnection& conn = *slots_[slot].connection;
  return !conn.closing() && !conn.input_pending();
}

void ConnectionPool::lend(uint32_t slot, CheckoutCallback& callback) {
  Slot& s = slots_[slot];
  s.state = SlotState::leased;
  ++leased_;
  ++handles_;
  bool reused = s.used;
  s.used = true;
  if (reused) ++counters_.reuses;
  s.connection->read_stop();  // the idle read; the borrower starts its own
  PooledConnection lease(this, slot, s.generation, reused);
  callback(std::move(lease));
}

ConnectionPool::Slot* ConnectionPool::find(uint32_t slot, uint32_t generation) noexcept {
  if (slot >= slots_.size()) return nullptr;
  Slot& s = slots_[slot];
  return s.generation == generation && s.connection ? &s : nullptr;
}

void ConnectionPool::give_back(uint32_t slot, uint32_t generation) noexcept {
  --handles_;
  Slot* s = find(slot, generation);
  if (!s || s->state != SlotState::leased) return;  // it closed while lent: already released
  --leased_;
  TcpConnection& conn = *s->connection;
  if (conn.closing()) {
    s->state = SlotState::closing;  // on_release frees the slot
    return;
  }
  // The borrower's callbacks hold its state: none may run once the connection is back.
  conn.read_stop();
  conn.set_water_marks(SIZE_MAX, 0, {}, {});
  conn.on_close({});
  conn.context().reset();
  // Bytes queued or unread mean a request or response not finished: the next borrower would
  // meet them in the middle of its own exchange.
  if (closed_ || !s->reusable || conn.write_queue_bytes() > 0 || conn.unread_bytes() > 0) {
    close_slot(slot);
    return;
  }
  if (!requests_.empty() && fresh(slot)) {
    Request request = std::move(requests_.front());
    requests_.pop_front();
    lend(slot, request.callback);
    return;
  }
  make_idle(slot);
}

void ConnectionPool::make_idle(uint32_t slot) {
  if (idle_.size() >= options_.max_idle) {
    close_slot(slot);
    return;
  }
  Slot& s = slots_[slot];
  s.state = SlotState::idle;
  s.idle_since = loop_.now();
  // Nothing is expected on an idle connection: end of stream, an error or a stray byte all
  // mean it cannot serve the next request.
  auto on_idle_read = [this, slot](TcpConnection&, std::error_code, std::span<std::byte>) {
    if (slots_[slot].state != SlotState::idle) return;
    ++counters_.stale_dropped;
    close_slot(slot);
  };
  if (s.connection->read_start(on_idle_read)) {
    close_slot(slot);
    return;
  }
  idle_.push_back(slot);
  arm_idle_timer();
}

void ConnectionPool::remove_idle(uint32_t slot) noexcept {
  auto it = std::find(idle_.begin(), idle_.end(), slot);
  if (it != idle_.end()) idle_.erase(it);
}

void ConnectionPool::close_slot(uint32_t slot) noexcept {
  Slot& s = slots_[slot];
  if (s.state == SlotState::idle) remove_idle(slot);
  s.state = SlotState::closing;
  s.connection->close();  // on_release runs from the loop's closing phase
}

// The connection's close finished (ours, the borrower's, or a failure): the slot is free.
void ConnectionPool::on_release(uint32_t slot) {
  Slot& s = slots_[slot];
  if (s.state == SlotState::idle) remove_idle(slot);
  if (s.state == SlotState::leased) --leased_;
  s.state = SlotState::free;
  ++s.generation;  // a lease still naming it finds nothing
  s.reusable = true;
  s.used = false;
  s.connection.reset();  // we run inside its close: it touches nothing after this call
  free_slots_.push_back(slot);
  --open_;
  if (closed_) {
    maybe_report_closed();
    return;
  }
  if (!health_.up && !probing_ && !probe_retry_timer_.valid()) start_probe();
  serve();
}

uint32_t ConnectionPool::adopt(Socket socket) {
  if (options_.no_delay) socket.set_no_delay(true);
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& s = slots_[slot];
  s.connection = std::make_unique<TcpConnection>(loop_, std::move(socket));
  s.state = SlotState::closing;  // the caller lends it or makes it idle at once
  s.connection->set_id(ConnId{slot, s.generation});
  s.connection->set_release([this, slot](TcpConnection&) { on_release(slot); });
  return slot;
}

// --- waiting checkouts

// Hands idle connections to the oldest checkouts, then starts a connect for each checkout that
// no connect on the way will serve, while there is room. Every loop re-reads the state: the
// callbacks it runs may check out, return or close.
void ConnectionPool::serve() {
  while (!closed_ && !requests_.empty()) {
    auto slot = take_idle();
    if (!slot) break;
    Request request = std::move(requests_.front());
    requests_.pop_front();
    lend(*slot, request.callback);
  }
  while (!closed_ && health_.up && unmatched_requests() > 0 &&
         open_ < options_.max_connections) {
    start_connect();
  }
}

size_t ConnectionPool::unmatched_requests() const noexcept {
  return requests_.size() > connecting_ ? requests_.size() - connecting_ : 0;
}

void ConnectionPool::fail_front(std::error_code error) {
  Request request = std::move(requests_.front());
  requests_.pop_front();
  request.callback(error);
}

// Fails the newest checkouts that neither a connect on the way nor a lent connection coming
// back could serve (the upstream went down: no new connect will be made for them).
void ConnectionPool::fail_unservable(std::error_code error) {
  while (!requests_.empty() && requests_.size() > connecting_ + leased_) {
    Request request = std::move(requests_.back());
    requests_.pop_back();
    ++counters_.down_rejections;
    request.callback(error);
  }
}

// Checkouts join in order with the same wait, so their deadlines are in order too: one timer,
// for the oldest, is enough.
void ConnectionPool::arm_wait_timer() {
  if (wait_timer_.valid() || requests_.empty()) return;
  Duration delay = std::max(Duration::zero(), requests_.front().deadline - loop_.now());
  wait_timer_ = loop_.run_after(delay, [this] {
    wait_timer_ = TimerId{};
    expire_waiters();
  });
}

void ConnectionPool::expire_waiters() {
  TimePoint now = loop_.now();
  while (!requests_.empty() && requests_.front().deadline <= now) {
    ++counters_.wait_timeouts;
    fail_front(make_error_code(pool_errc::wait_timeout));
  }
  arm_wait_timer();
}

// --- connecting and health

void ConnectionPool::start_connect() {
  size_t index = take_connector();
  ++open_;
  ++connecting_;
  connectors_[index].connector->start([this, index](std::error_code error, Socket socket) {
    on_connected(index, /*probe=*/false, error, std::move(socket));
  });
}

// Connectors are kept and reused; one is never restarted from inside its own callback (it is
// marked free only after the callback's work is done).
size_t ConnectionPool::take_connector() {
  for (size_t i = 0; i < connectors_.size(); ++i) {
    if (!connectors_[i].busy) {
      connectors_[i].busy = true;
      return i;
    }
  }
  connectors_.push_back(
      ConnectorSlot{std::make_unique<Connector>(loop_, upstream_, options_.connect), true});
  return connectors_.size() - 1;
}

void ConnectionPool::on_connected(size_t connector, bool probe, std::error_code error,
                                  Socket socket) {
  if (probe) probing_ = false;
  else --connecting_;
  if (error) {
    --open_;
    // The checkout this connect was for learns the real reason; if the upstream goes down
    // now, the others learn upstream_down.
    if (!probe && unmatched_requests() > 0) fail_front(error);
    record_failure(error);
    if (probe && !health_.up) schedule_probe(options_.connect.max_backoff);
  } else {
    ++counters_.connects;
    record_success();
    uint32_t slot = adopt(std::move(socket));
    if (!requests_.empty()) {
      Request request = std::move(requests_.front());
      requests_.pop_front();
      lend(slot, request.callback);
    } else {
      make_idle(slot);
    }
  }
  if (!probe && connector < connectors_.size()) connectors_[connector].busy = false;
  serve();
}

void ConnectionPool::record_failure(std::error_code error) {
  ++counters_.connect_failures;
  ++health_.consecutive_failures;
  health_.last_error = error;
  if (health_.up && health_.consecutive_failures >= options_.down_after_failures) set_up(false);
}

void ConnectionPool::record_success() {
  health_.consecutive_failures = 0;
  if (!health_.up) set_up(true);
}

void ConnectionPool::set_up(bool up) {
  health_.up = up;
  if (up) {
    loop_.cancel(probe_retry_timer_);
    probe_retry_timer_ = TimerId{};
    if (probing_) {  // a checkout's connect got there first
      probe_->stop();
      probing_ = false;
      --open_;
    }
  } else {
    health_.down_since = loop_.now();
    fail_unservable(make_error_code(pool_errc::upstream_down));
    schedule_probe(options_.connect.initial_backoff);
  }
  if (on_health_change_) on_health_change_(health_);
}

void ConnectionPool::schedule_probe(Duration delay) {
  if (closed_ || probe_retry_timer_.valid()) return;
  probe_retry_timer_ = loop_.run_after(delay, [this] {
    probe_retry_timer_ = TimerId{};
    if (!health_.up) start_probe();
  });
}

// The reconnect while down: one Connector retrying with its backoff until the upstream
// answers. It needs room under max_connections; on_release starts it when room comes.
void ConnectionPool::start_probe() {
  if (probing_ || closed_ || health_.up || open_ >= options_.max_connections) return;
  if (!probe_) {
    ConnectOptions options = options_.connect;
    options.max_attempts = INT_MAX;
    probe_ = std::make_unique<Connector>(loop_, upstream_, options);
  }
  probing_ = true;
  ++open_;
  probe_->start([this](std::error_code error, Socket socket) {
    on_connected(SIZE_MAX, /*probe=*/true, error, std::move(socket));
  });
}

// --- idle timeout

// Idle connections are in the order they became idle: one timer, for the oldest.
void ConnectionPool::arm_idle_timer() {
  if (idle_timer_.valid() || idle_.empty() || options_.idle_timeout == Duration::zero()) return;
  TimePoint due = slots_[idle_.front()].idle_since + options_.idle_timeout;
  idle_timer_ = loop_.run_after(std::max(Duration::zero(), due - loop_.now()), [this] {
    idle_timer_ = TimerId{};
    expire_idle();
  });
}

void ConnectionPool::expire_idle() {
  TimePoint now = loop_.now();
  while (!idle_.empty()) {
    uint32_t slot = idle_.front();
    if (slots_[slot].idle_since + options_.idle_timeout > now) break;
    ++counters_.idle_expired;
    close_slot(slot);
  }
  arm_idle_timer();
}

// --- closing

void ConnectionPool::close(std::function<void()> on_closed) {
  loop_.assert_in_loop_thread("ConnectionPool::close");
  if (closed_) return;
  closed_ = true;
  on_closed_ = std::move(on_closed);
  loop_.cancel(wait_timer_);
  loop_.cancel(idle_timer_);
  loop_.cancel(probe_retry_timer_);
  wait_timer_ = idle_timer_ = probe_retry_timer_ = TimerId{};
  for (ConnectorSlot& c : connectors_) {
    if (!c.busy) continue;
    c.connector->stop();  // its callback never runs
    c.busy = false;
    --open_;
  }
  connecting_ = 0;
  if (probing_) {
    probe_->stop();
    probing_ = false;
    --open_;
  }
  while (!idle_.empty()) close_slot(idle_.back());
  while (!requests_.empty()) fail_front(make_error_code(pool_errc::closed));
  maybe_report_closed();
}

void ConnectionPool::maybe_report_closed() {
  if (!closed_ || open_ != 0 || !on_closed_ || closed_timer_.valid()) return;
  // From the loop, never inside close() or a connection's close.
  closed_timer_ = loop_.run_after(Duration::zero(), [this] {
    closed_timer_ = TimerId{};
    auto done = std::move(on_closed_);
    on_closed_ = nullptr;
    if (done) done();
  });
}

}  // namespace tern
