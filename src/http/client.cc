// http::Client: requests queued in order, placed on lent connections with room, connections
// checked out of the pool as the queue needs them, kept while requests keep coming and given
// back once they have been quiet for a sweep period.
#include "tern/http/client.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "tern/loop/event_loop.h"

namespace tern::http {
namespace {

// The checkout's errors, told apart from the response's (both would be timed_out).
std::error_code connect_error(std::error_code error) noexcept {
  if (error == std::errc::timed_out) return make_error_code(client_errc::connect_timeout);
  return error;
}

// The pipeline's errors, named for what they mean to an HTTP caller. Exact matches: the
// pipeline's own codes only, not a system error that happens to be equivalent.
std::error_code response_error(std::error_code error) noexcept {
  if (error == make_error_code(errc::eof)) {
    return make_error_code(client_errc::closed_before_response);
  }
  if (error == std::make_error_code(std::errc::timed_out)) {
    return make_error_code(client_errc::response_timeout);
  }
  if (error == std::make_error_code(std::errc::operation_canceled)) {
    return make_error_code(client_errc::closed);
  }
  return error;
}

ClientProtocolOptions protocol_options_of(const ClientOptions& options,
                                          const InetAddress& upstream) {
  return ClientProtocolOptions{options.limits,
                               options.host.empty() ? upstream.to_string() : options.host};
}

}  // namespace

Client::Client(EventLoop& loop, InetAddress upstream, ClientOptions options)
    : loop_(loop),
      options_(std::move(options)),
      protocol_options_(protocol_options_of(options_, upstream)),
      pool_(loop, upstream, options_.pool) {
  if (options_.pipelining == 0) options_.pipelining = 1;
}

Client::~Client() {
  destroying_ = true;
  closed_ = true;
  if (sweep_timer_.valid()) loop_.cancel(sweep_timer_);
  fail_queued_beyond(0, make_error_code(client_errc::closed));
  // Each pipeline fails what waits on it (operation_canceled: closed) while its link is still
  // there to find the callbacks; the link, and with it the lease, goes after.
  std::vector<Slab<Link>::Key> keys;
  links_.for_each([&](Link& link) { keys.push_back(link.key); });
  for (auto key : keys) {
    if (Link* link = links_.find(key.slot, key.generation)) link->pipeline.reset();
    auto link = links_.erase(key.slot, key.generation);
    if (link) link->lease.mark_broken();  // its state is unknown: never lent again
  }
}

void Client::request(ClientRequest request, Callback on_response) {
  loop_.assert_in_loop_thread("http::Client::request");
  std::error_code refusal;
  if (closed_) {
    refusal = make_error_code(client_errc::closed);
  } else if (queue_.size() >= options_.max_queued) {
    refusal = make_error_code(client_errc::queue_full);
  } else {
    refusal = validate(request);
  }
  if (refusal) {
    on_response(refusal, nullptr);
    return;
  }
  queue_.push_back(Queued{std::move(request), std::move(on_response)});
  dispatch();
}

void Client::close(std::function<void()> on_closed) {
  loop_.assert_in_loop_thread("http::Client::close");
  closed_ = true;
  fail_queued_beyond(0, make_error_code(client_errc::closed));
  release_idle(TimePoint::max());  // kept links go back now: the pool closes them
  if (sweep_timer_.valid()) loop_.cancel(sweep_timer_);
  sweep_timer_ = TimerId{};
  pool_.close(std::move(on_closed));
}

// Places waiting requests, oldest first, on connections with room, then asks the pool for as
// many connections as the rest need. Callbacks it runs (a failed send, a checkout answered at
// once) may call back into it: the nested call only asks this one to look again.
void Client::dispatch() {
  if (destroying_) return;
  if (dispatching_) {
    redispatch_ = true;
    return;
  }
  dispatching_ = true;
  do {
    redispatch_ = false;
    while (!queue_.empty()) {
      auto key = link_with_room();
      if (!key) break;
      Queued queued = std::move(queue_.front());
      queue_.pop_front();
      send_on(*key, std::move(queued));
    }
    start_checkouts();
  } while (redispatch_);
  dispatching_ = false;
}

// A linear scan: a client holds at most pool.max_connections links.
std::optional<Slab<Client::Link>::Key> Client::link_with_room() {
  std::optional<Slab<Link>::Key> found;
  links_.for_each([&](Link& link) {
    if (found || link.callbacks.size() >= options_.pipelining) return;
    if (usable(link)) found = link.key;
  });
  return found;
}

// Whether `link` may carry another request: keep-alive so far and not failed; a kept link with
// nothing outstanding is first peeked at, as the pool does before it lends one, so that a FIN
// or stray bytes the loop has not read yet are never answered with a new request. One that
// fails the peek is marked, and goes at the next sweep.
bool Client::usable(Link& link) const noexcept {
  if (!link.reusable || link.pipeline->failed()) return false;
  if (!link.carried || !link.callbacks.empty()) return true;
  TcpConnection* connection = link.lease.get();
  if (connection == nullptr || connection->closing() || connection->input_pending()) {
    link.reusable = false;
    return false;
  }
  return true;
}

void Client::send_on(Slab<Link>::Key key, Queued queued) {
  Link* link = links_.find(key.slot, key.generation);
  if (link->carried) ++kept_reuses_;
  link->carried = true;
  if (queued.request.asks_close()) link->reusable = false;
  link->callbacks.push_back(std::move(queued.callback));
  ++outstanding_;
  // Accepted: the link has room (pipelining is the pipeline's max_waiting) and did not fail.
  // The send may fail the connection at once and run the callbacks, this one included.
  auto refused = link->pipeline->send(
      std::move(queued.request),
      [this, key](std::error_code error, const ParsedResponse* response) {
        on_answer(key, error, response);
      });
  if (refused) {  // not expected; the callback still runs once
    Callback callback = std::move(link->callbacks.back());
    link->callbacks.pop_back();
    --outstanding_;
    callback(refused, nullptr);
  }
}

// One checkout per `pipelining` waiting requests not yet covered by a checkout in flight.
void Client::start_checkouts() {
  while (!closed_ && checkouts_ * options_.pipelining < queue_.size()) {
    ++checkouts_;
    pool_.checkout([this](Result<PooledConnection> lease) { on_checkout(std::move(lease)); });
    if (redispatch_) return;  // answered at once with a connection: place requests on it first
  }
}

void Client::on_checkout(Result<PooledConnection> lease) {
  --checkouts_;
  if (!lease) {
    // The requests this checkout was for fail; those the other checkouts cover wait on.
    fail_queued_beyond(checkouts_ * options_.pipelining, connect_error(lease.error()));
    return;
  }
  if (queue_.empty() || closed_ || destroying_) return;  // the lease goes back unused
  auto link = std::make_unique<Link>();
  link->lease = std::move(lease.value());
  link->pipeline = std::make_unique<Pipeline<ClientProtocol>>(
      *link->lease, protocol_options_,
      PipelineOptions{options_.pipelining, options_.response_timeout});
  Link& placed = *link;
  placed.key = links_.insert(std::move(link));
  dispatch();
}

void Client::on_answer(Slab<Link>::Key key, std::error_code error,
                       const ParsedResponse* response) {
  Link* link = links_.find(key.slot, key.generation);
  if (link == nullptr || link->callbacks.empty()) return;  // cannot happen: one answer per send
  Callback callback = std::move(link->callbacks.front());
  link->callbacks.pop_front();
  --outstanding_;
  if (error || !response->keep_alive) link->reusable = false;
  // Bytes after the last answer that no request asked for: a request sent now would be
  // matched to them.
  // (No pipeline while it is being destroyed: it fails what waits from its destructor.)
  if (link->callbacks.empty() && link->pipeline && link->pipeline->buffered() > 0) {
    link->reusable = false;
  }
  callback(response_error(error), response);
  if (destroying_) return;
  dispatch();  // the answer may have made room here
  settle(key);
}

// A link with nothing outstanding stays, its pipeline reading, for the next request while it
// is clean and the client open (the sweep gives it back to the pool once it has been quiet);
// otherwise it goes back now, to be closed.
void Client::settle(Slab<Link>::Key key) {
  Link* link = links_.find(key.slot, key.generation);
  if (link == nullptr || !link->callbacks.empty()) return;
  bool clean = link->reusable && !link->pipeline->failed() && link->pipeline->buffered() == 0;
  if (!clean || closed_) {
    release(key);
    return;
  }
  link->idle_since = loop_.now();
  arm_sweep();
}

// Gives the link back to the pool: to its idle list when clean, closed otherwise.
void Client::release(Slab<Link>::Key key) {
  auto owned = links_.erase(key.slot, key.generation);
  if (!owned) return;
  bool clean = owned->reusable && !owned->pipeline->failed() && owned->pipeline->buffered() == 0;
  owned->pipeline.reset();  // stops reading: the pool reads an idle connection itself
  if (!clean) owned->lease.mark_broken();
}

// Gives back every link with nothing outstanding that went quiet before `idle_before`, and
// every one that can carry nothing more.
void Client::release_idle(TimePoint idle_before) {
  std::vector<Slab<Link>::Key> quiet;
  links_.for_each([&](Link& link) {
    if (!link.callbacks.empty()) return;
    bool spent = !link.reusable || link.pipeline->failed();
    if (spent || link.idle_since < idle_before) quiet.push_back(link.key);
  });
  for (auto key : quiet) release(key);
}

void Client::arm_sweep() {
  if (sweep_timer_.valid()) return;
  sweep_timer_ = loop_.run_after(sweep_period(), [this] {
    sweep_timer_ = TimerId{};
    release_idle(loop_.now() - sweep_period());
    bool kept = false;
    links_.for_each([&](Link& link) { kept = kept || link.callbacks.empty(); });
    if (kept) arm_sweep();
  });
}

// Half the pool's idle timeout, at most a second: a kept link is back in the pool (which
// times it out) well within the idle timeout the caller asked for.
Duration Client::sweep_period() const noexcept {
  constexpr Duration kMost = std::chrono::seconds(1);
  Duration half = options_.pool.idle_timeout / 2;
  if (half <= Duration::zero() || half > kMost) return kMost;
  return std::max<Duration>(half, std::chrono::milliseconds(1));
}

// Fails waiting requests, oldest first, until `keep` are left: the oldest are those a failed
// checkout was started for.
void Client::fail_queued_beyond(size_t keep, std::error_code error) {
  while (queue_.size() > keep) {
    Queued queued = std::move(queue_.front());
    queue_.pop_front();
    queued.callback(error, nullptr);
  }
}

}  // namespace tern::http
