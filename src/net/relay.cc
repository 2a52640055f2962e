#include "tern/net/relay.h"

#include <algorithm>

#include "tern/base/error.h"
#include "tern/base/logging.h"
#include "tern/loop/event_loop.h"

namespace tern {

Relay::Relay(TcpConnection& client, TcpConnection& upstream, RelayOptions options)
    : options_(options), sides_{Side{&client}, Side{&upstream}} {
  TERN_CHECK(&client.loop() == &upstream.loop(), "Relay: both connections must be on one loop");
  TERN_CHECK(options_.low_water <= options_.high_water,
             "Relay: low_water (%zu) must not exceed high_water (%zu)", options_.low_water,
             options_.high_water);
}

Relay::~Relay() {
  if (started_ && !finished_) detach();
}

void Relay::start(DoneCallback on_done) {
  from(0).loop().assert_in_loop_thread("Relay::start");
  TERN_CHECK(!started_, "Relay::start called twice");
  started_ = true;
  on_done_ = std::move(on_done);
  for (int s = 0; s < 2; ++s) {
    TcpConnection& conn = *sides_[s].connection;
    conn.on_close([this, s](TcpConnection&) { on_closed(s); });
    // This side's write queue carries the flow that ends here: flow 1 - s.
    int into = 1 - s;
    conn.set_water_marks(
        options_.high_water, options_.low_water,
        [this, into](TcpConnection&, size_t) { pause(into); },
        [this, into](TcpConnection&, size_t) { resume(into); });
  }
  for (int s = 0; s < 2; ++s) {
    if (sides_[s].connection->closing()) {
      fail(make_error_code(errc::not_connected), s);
      return;
    }
  }
  start_reading(kToUpstream);
  start_reading(kToClient);
}

void Relay::abort() noexcept { fail(std::make_error_code(std::errc::operation_canceled)); }

void Relay::start_reading(int d) {
  if (closing_ || flows_[d].read_ended || sides_[d].closed) return;
  auto on_read = [this, d](TcpConnection&, std::error_code error, std::span<std::byte> data) {
    this->on_read(d, error, data);
  };
  if (std::error_code error = from(d).read_start(on_read)) fail(error, d);
}

void Relay::on_read(int d, std::error_code error, std::span<std::byte> data) {
  if (closing_) return;
  if (error == errc::eof) {
    on_end_of_stream(d);
    return;
  }
  if (error) {
    fail(error, d);
    return;
  }
  Flow& flow = flows_[d];
  flow.bytes += data.size();
  flow.largest_read = std::max(flow.largest_read, data.size());
  // On io_uring the receive buffer itself is queued, not a copy. Reaching the high-water mark
  // calls pause() from inside this write.
  if (std::error_code write_error = to(d).write_received(ConstBuffer(data))) {
    fail(write_error, 1 - d);
    return;
  }
  if (!sides_[1 - d].closed) {
    flow.peak_queued = std::max(flow.peak_queued, to(d).write_queue_bytes());
  }
}

// The sender finished: the receiver gets a FIN after what is queued for it.
void Relay::on_end_of_stream(int d) {
  flows_[d].read_ended = true;
  std::error_code error =
      to(d).shutdown([this, d](TcpConnection&, std::error_code e) { on_shut_down(d, e); });
  if (error) fail(error, 1 - d);
}

void Relay::on_shut_down(int d, std::error_code error) {
  if (closing_) return;
  if (error) {
    fail(error, 1 - d);
    return;
  }
  flows_[d].shut_down = true;
  if (flows_[0].shut_down && flows_[1].shut_down) close_both();
}

void Relay::pause(int d) noexcept {
  if (closing_ || flows_[d].paused) return;
  flows_[d].paused = true;
  ++flows_[d].pauses;
  if (!sides_[d].closed) from(d).read_stop();
}

void Relay::resume(int d) {
  if (!flows_[d].paused) return;
  flows_[d].paused = false;
  start_reading(d);
}

void Relay::fail(std::error_code error, int side) noexcept {
  if (!error_) {
    error_ = error;
    error_side_ = side;
  }
  close_both();
}

void Relay::close_both() noexcept {
  if (closing_) return;
  closing_ = true;
  for (Side& side : sides_) {
    if (!side.closed) side.connection->close();
  }
}

// A connection closed: by the relay, or under it (a failed write closes a connection; so does
// its owner). Done runs once both are closed, so no callback of theirs can reach the relay.
void Relay::on_closed(int side) {
  sides_[side].closed = true;
  if (!closing_) fail(make_error_code(errc::not_connected), side);
  if (!sides_[0].closed || !sides_[1].closed) return;
  finished_ = true;
  RelayResult result{flows_[kToUpstream].bytes, flows_[kToClient].bytes, error_,
                     error_side_ == 1};
  DoneCallback done = std::move(on_done_);
  on_done_ = nullptr;
  if (done) done(result);  // may destroy the relay: nothing may follow
}

// Destroyed while running: the connections must not call into the relay any more.
void Relay::detach() noexcept {
  for (Side& side : sides_) {
    if (side.closed) continue;
    TcpConnection& conn = *side.connection;
    conn.on_close({});
    conn.set_water_marks(SIZE_MAX, 0, {}, {});
    conn.read_stop();
    conn.close();
  }
}

}  // namespace tern
