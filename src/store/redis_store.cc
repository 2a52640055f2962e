#include "store/redis_store.h"

#include <algorithm>
#include <map>
#include <type_traits>
#include <utility>

#include "store/redis_commands.h"
#include "tern/base/logging.h"
#include "tern/loop/event_loop.h"
#include "tern/redis/client_error.h"
#include "tern/redis/key_slot.h"

namespace tern::store {
namespace {

// Keeps the `limit` smallest distinct keys (the scan's answer is the first keys in byte order).
void keep_smallest(std::vector<std::string>& keys, size_t limit) {
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  if (keys.size() > limit) keys.resize(limit);
}

}  // namespace

struct RedisStore::ScanState {
  std::string prefix;
  std::string pattern;
  size_t limit = 0;
  TimePoint deadline;
  std::vector<InetAddress> nodes;  // scanned one after the other
  size_t node = 0;
  std::vector<std::string> keys;
  ScanCallback done;
};

// The MULTI/EXEC groups of one batch (one, or one per hash slot in a cluster) answer one by
// one; the batch's callback runs after the last, with the first error.
struct RedisStore::BatchState {
  size_t remaining = 0;
  std::error_code first_error;
  BatchCallback done;
};

RedisStore::RedisStore(EventLoop& loop, std::unique_ptr<RedisTarget> target,
                       const StorageConfig& config)
    : loop_(loop),
      limits_(config.limits),
      queue_capacity_(config.queue_capacity),
      deadline_(config.deadline),
      held_(loop, config.deadline, config.wait_for_room ? config.max_waiting : 0),
      target_(std::move(target)) {}

RedisStore::~RedisStore() {
  destroying_ = true;
  held_.clear();    // never sent: dropped
  target_.reset();  // fails what is outstanding: finish() drops those callbacks
}

std::error_code RedisStore::refusal(std::string_view key, size_t value_size) const {
  if (key.empty() || key.size() > limits_.max_key) return make_error_code(errc::bad_key);
  if (value_size > limits_.max_value) return make_error_code(errc::too_large);
  return {};
}

// The deadline runs from now, the operation's issue: the hold counts towards it, and once sent
// the command carries what is left of it (the client's command timeout would give it a whole
// deadline again from the send).
template <class Callback, class Send>
void RedisStore::hold(Callback done, Send send) {
  if (!held_.can_hold()) return end(done, make_error_code(errc::overloaded));
  ++stats_.room_waits;
  const TimePoint issued = loop_.now();
  held_.hold(issued, [this, done = std::move(done), send = std::move(send),
                      deadline = issued + deadline_](std::error_code failed) mutable {
    if (failed) {
      end(done, failed);
      return true;
    }
    if (sent_ >= queue_capacity_) return false;
    send(std::move(done), deadline);
    return true;
  });
}

template <class Callback>
void RedisStore::refuse(Callback& done, std::error_code error) {
  ++stats_.failures;
  done(error);
}

// The callback runs first: an operation it issues holds behind the held ones (has_room() is
// false while any is held), then the freed place goes to the oldest.
template <class Callback, class Outcome>
void RedisStore::finish(Callback& done, Outcome outcome) {
  --sent_;
  end(done, std::move(outcome));
  if (held_.holding() && !destroying_) held_.room();
}

template <class Callback, class Outcome>
void RedisStore::end(Callback& done, Outcome outcome) {
  --stats_.pending;
  if (destroying_) return;
  bool failed;
  if constexpr (std::is_same_v<Outcome, std::error_code>) {
    failed = static_cast<bool>(outcome);
  } else {
    failed = !outcome.ok();
  }
  if (failed) ++stats_.failures;
  done(std::move(outcome));
}

std::error_code RedisStore::failure(std::error_code error, const redis::Value* reply) const {
  if (error == redis::errc::error_reply && reply != nullptr) {
    static LogLimiter limiter;
    log_limited(limiter, LogLevel::warn, "redis storage: the server refused: %s",
                reply->to_string().c_str());
  }
  return redis_ops::to_store_error(error);
}

// A get or a remove: one command on the key. Held, it keeps a copy of the key.
template <class Callback>
void RedisStore::issue_keyed(std::string_view key, Callback&& done,
                             void (RedisStore::*send)(std::string_view, Callback&&, TimePoint)) {
  if (auto refused = refusal(key, 0)) return refuse(done, refused);
  ++stats_.pending;
  if (!has_room()) {
    return hold(std::move(done), [this, send, key = std::string(key)](Callback held,
                                                                       TimePoint deadline) {
      (this->*send)(key, std::move(held), deadline);
    });
  }
  (this->*send)(key, std::move(done), kSentAtOnce);
}

void RedisStore::get(std::string_view key, GetCallback done) {
  loop_.assert_in_loop_thread("RedisStore::get");
  ++stats_.gets;
  issue_keyed(key, std::move(done), &RedisStore::send_get);
}

void RedisStore::send_get(std::string_view key, GetCallback&& done, TimePoint deadline) {
  ++sent_;
  target_->command(
      redis_ops::get(key),
      [this, done = std::move(done)](std::error_code error, const redis::Value* reply) mutable {
        if (error) return finish(done, Result<std::optional<std::string>>(failure(error, reply)));
        finish(done, redis_ops::read_get(*reply));
      },
      deadline);
}

void RedisStore::put(std::string_view key, std::string_view value, PutCallback done) {
  loop_.assert_in_loop_thread("RedisStore::put");
  ++stats_.puts;
  if (auto refused = refusal(key, value.size())) return refuse(done, refused);
  ++stats_.pending;
  if (!has_room()) {
    return hold(std::move(done), [this, key = std::string(key), value = std::string(value)](
                                     PutCallback held, TimePoint deadline) {
      start_put(key, value, std::move(held), deadline);
    });
  }
  start_put(key, value, std::move(done), kSentAtOnce);
}

// The key and value are copied once, into send_put's own strings (a held put copies them
// twice: it kept its own).
void RedisStore::start_put(std::string_view key, std::string_view value, PutCallback&& done,
                           TimePoint deadline) {
  ++sent_;
  if (put_script_sha_.empty()) load_put_script();
  send_put(std::string(key), std::string(value), !put_script_sha_.empty(), std::move(done),
           deadline);
}

// Once per store (again after a failure): the SHA that EVALSHA names the put script by. Puts
// sent before the answer use EVAL, which needs no SHA. No operation waits for it: the command
// timeout is its deadline.
void RedisStore::load_put_script() {
  if (loading_script_) return;
  loading_script_ = true;
  target_->command(
      redis_ops::load_put_script(),
      [this](std::error_code error, const redis::Value* reply) {
        if (destroying_) return;
        loading_script_ = false;
        if (error) return;  // the next put tries again
        if (auto sha = redis_ops::read_script_sha(*reply)) put_script_sha_ = *sha;
      },
      kSentAtOnce);
}

// The key and value are kept until the answer: a server that lost its script cache (a restart,
// SCRIPT FLUSH), or a cluster node that never saw SCRIPT LOAD, answers NOSCRIPT, and the put
// goes again as EVAL, a held put with what is left of its deadline. One sent at once goes again
// with a whole command timeout (its issue time is not kept: no clock read on the fast path), so
// in that rare case (a server that lost its script) it may take up to twice its deadline.
void RedisStore::send_put(std::string key, std::string value, bool by_sha, PutCallback done,
                          TimePoint deadline) {
  redis::Command command = by_sha ? redis_ops::put_evalsha(put_script_sha_, key, value)
                                  : redis_ops::put_eval(key, value);
  target_->command(
      std::move(command),
      [this, by_sha, deadline, key = std::move(key), value = std::move(value),
       done = std::move(done)](std::error_code error, const redis::Value* reply) mutable {
        if (by_sha && error == redis::errc::error_reply && reply != nullptr &&
            redis_ops::is_noscript(*reply)) {
          // The SHA stays right (it is the script's digest): EVAL caches the script on that
          // node again, and the next EVALSHA finds it.
          if (destroying_) return finish(done, Result<bool>(make_error_code(errc::closed)));
          return send_put(std::move(key), std::move(value), false, std::move(done), deadline);
        }
        if (error) return finish(done, Result<bool>(failure(error, reply)));
        finish(done, redis_ops::read_put(*reply));
      },
      deadline);
}

void RedisStore::remove(std::string_view key, RemoveCallback done) {
  loop_.assert_in_loop_thread("RedisStore::remove");
  ++stats_.removes;
  issue_keyed(key, std::move(done), &RedisStore::send_remove);
}

void RedisStore::send_remove(std::string_view key, RemoveCallback&& done, TimePoint deadline) {
  ++sent_;
  target_->command(
      redis_ops::remove(key),
      [this, done = std::move(done)](std::error_code error, const redis::Value* reply) mutable {
        if (error) return finish(done, Result<bool>(failure(error, reply)));
        finish(done, redis_ops::read_remove(*reply));
      },
      deadline);
}

void RedisStore::scan(std::string_view prefix, size_t limit, ScanCallback done) {
  loop_.assert_in_loop_thread("RedisStore::scan");
  ++stats_.scans;
  limit = std::min(limit, limits_.max_scan);
  if (prefix.size() > limits_.max_key) return refuse(done, make_error_code(errc::bad_key));
  if (limit == 0) return done(std::vector<std::string>());
  ++stats_.pending;
  if (!has_room()) {
    return hold(std::move(done), [this, prefix = std::string(prefix), limit](
                                     ScanCallback held, TimePoint deadline) {
      send_scan(prefix, limit, std::move(held), deadline);
    });
  }
  send_scan(prefix, limit, std::move(done), kSentAtOnce);
}

// The scan's deadline runs from its issue (its send, when it was not held), and every page's
// command carries it: the last page does not get a whole command timeout of its own.
void RedisStore::send_scan(std::string_view prefix, size_t limit, ScanCallback&& done,
                           TimePoint deadline) {
  ++sent_;
  auto state = std::make_unique<ScanState>();
  state->prefix = std::string(prefix);
  state->pattern = redis_ops::scan_pattern(prefix);
  state->limit = limit;
  state->deadline = std::min(deadline, loop_.now() + deadline_);
  state->done = std::move(done);
  const TimePoint scan_deadline = state->deadline;  // the state moves into the callback
  target_->masters(
      [this, state = std::move(state)](std::error_code error,
                                       std::vector<InetAddress> nodes) mutable {
        if (destroying_) return end_scan(std::move(state), make_error_code(errc::closed));
        if (error) return end_scan(std::move(state), failure(error, nullptr));
        if (nodes.empty()) return end_scan(std::move(state), make_error_code(errc::unavailable));
        state->nodes = std::move(nodes);
        scan_page(std::move(state), "0");
      },
      scan_deadline);
}

// One SCAN call to the current node; its keys are merged into the state, keeping the `limit`
// smallest seen so far (memory stays bounded however many keys match), then the next page,
// the next node, or the end.
void RedisStore::scan_page(std::unique_ptr<ScanState> state, std::string cursor) {
  redis::Command command = redis_ops::scan(cursor, state->pattern);
  const InetAddress node = state->nodes[state->node];
  const TimePoint deadline = state->deadline;  // the state moves into the callback
  target_->command_to(
      node, std::move(command),
      [this, state = std::move(state)](std::error_code error,
                                       const redis::Value* reply) mutable {
        if (destroying_) return end_scan(std::move(state), make_error_code(errc::closed));
        if (error) return end_scan(std::move(state), failure(error, reply));
        auto page = redis_ops::read_scan(*reply);
        if (!page) return end_scan(std::move(state), page.error());
        for (std::string& key : page->keys) {
          // MATCH is the server's filter; the prefix check keeps the answer right whatever it did.
          if (std::string_view(key).starts_with(state->prefix)) {
            state->keys.push_back(std::move(key));
          }
        }
        if (state->keys.size() >= 2 * state->limit + redis_ops::kScanCount) {
          keep_smallest(state->keys, state->limit);
        }
        if (page->cursor == "0" && ++state->node == state->nodes.size()) {
          return end_scan(std::move(state), {});
        }
        if (loop_.now() >= state->deadline) {
          return end_scan(std::move(state), make_error_code(errc::timeout));
        }
        scan_page(std::move(state), std::move(page->cursor));  // "0": the next node's first page
      },
      deadline);
}

void RedisStore::end_scan(std::unique_ptr<ScanState> state, std::error_code error) {
  if (error) return finish(state->done, Result<std::vector<std::string>>(error));
  keep_smallest(state->keys, state->limit);
  finish(state->done, Result<std::vector<std::string>>(std::move(state->keys)));
}

void RedisStore::batch(std::vector<Write> writes, BatchCallback done) {
  loop_.assert_in_loop_thread("RedisStore::batch");
  ++stats_.batches;
  for (const Write& write : writes) {
    size_t value_size = write.kind == Write::Kind::put ? write.value.size() : 0;
    if (auto refused = refusal(write.key, value_size)) return refuse(done, refused);
  }
  if (writes.empty()) return done({});
  ++stats_.pending;
  if (!has_room()) {
    return hold(std::move(done), [this, writes = std::move(writes)](
                                     BatchCallback held, TimePoint deadline) mutable {
      send_batch(std::move(writes), std::move(held), deadline);
    });
  }
  send_batch(std::move(writes), std::move(done), kSentAtOnce);
}

void RedisStore::send_batch(std::vector<Write> writes, BatchCallback&& done, TimePoint deadline) {
  ++sent_;
  std::vector<std::vector<Write>> groups;
  if (target_->splits_by_slot()) {
    std::map<uint16_t, std::vector<Write>> by_slot;  // each slot's writes in their order
    for (Write& write : writes) by_slot[redis::key_slot(write.key)].push_back(std::move(write));
    for (auto& slot_writes : by_slot) groups.push_back(std::move(slot_writes.second));
  } else {
    groups.push_back(std::move(writes));
  }
  auto state = std::make_shared<BatchState>();
  state->remaining = groups.size();
  state->done = std::move(done);
  for (const auto& group : groups) {
    target_->command_group(
        redis_ops::batch(group),
        [this, state](std::error_code error, const redis::Value* reply) {
          std::error_code outcome = error ? failure(error, reply) : redis_ops::read_exec(*reply);
          if (outcome && !state->first_error) state->first_error = outcome;
          if (--state->remaining == 0) finish(state->done, state->first_error);
        },
        deadline);
  }
}

StoreStats RedisStore::stats() const {
  StoreStats stats = stats_;
  target_->add_redirections(stats);
  return stats;
}

}  // namespace tern::store
