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
      target_(std::move(target)) {}

RedisStore::~RedisStore() {
  destroying_ = true;
  target_.reset();  // fails what is outstanding: finish() drops those callbacks
}

std::error_code RedisStore::refusal(std::string_view key, size_t value_size) const {
  if (key.empty() || key.size() > limits_.max_key) return make_error_code(errc::bad_key);
  if (value_size > limits_.max_value) return make_error_code(errc::too_large);
  if (stats_.pending >= queue_capacity_) return make_error_code(errc::overloaded);
  return {};
}

template <class Callback, class Outcome>
void RedisStore::finish(Callback& done, Outcome outcome) {
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

void RedisStore::get(std::string_view key, GetCallback done) {
  loop_.assert_in_loop_thread("RedisStore::get");
  ++stats_.gets;
  if (auto refused = refusal(key, 0)) {
    ++stats_.failures;
    return done(refused);
  }
  ++stats_.pending;
  target_->command(redis_ops::get(key), [this, done = std::move(done)](
                                            std::error_code error, const redis::Value* reply) mutable {
    if (error) return finish(done, Result<std::optional<std::string>>(failure(error, reply)));
    finish(done, redis_ops::read_get(*reply));
  });
}

void RedisStore::put(std::string_view key, std::string_view value, PutCallback done) {
  loop_.assert_in_loop_thread("RedisStore::put");
  ++stats_.puts;
  if (auto refused = refusal(key, value.size())) {
    ++stats_.failures;
    return done(refused);
  }
  ++stats_.pending;
  if (put_script_sha_.empty()) load_put_script();
  send_put(std::string(key), std::string(value), !put_script_sha_.empty(), std::move(done));
}

// Once per store (again after a failure): the SHA that EVALSHA names the put script by. Puts
// sent before the answer use EVAL, which needs no SHA.
void RedisStore::load_put_script() {
  if (loading_script_) return;
  loading_script_ = true;
  target_->command(redis_ops::load_put_script(),
                   [this](std::error_code error, const redis::Value* reply) {
                     if (destroying_) return;
                     loading_script_ = false;
                     if (error) return;  // the next put tries again
                     if (auto sha = redis_ops::read_script_sha(*reply)) put_script_sha_ = *sha;
                   });
}

// The key and value are kept until the answer: a server that lost its script cache (a restart,
// SCRIPT FLUSH), or a cluster node that never saw SCRIPT LOAD, answers NOSCRIPT, and the put
// goes again as EVAL.
void RedisStore::send_put(std::string key, std::string value, bool by_sha, PutCallback done) {
  redis::Command command = by_sha ? redis_ops::put_evalsha(put_script_sha_, key, value)
                                  : redis_ops::put_eval(key, value);
  target_->command(std::move(command), [this, by_sha, key = std::move(key),
                                        value = std::move(value), done = std::move(done)](
                                           std::error_code error,
                                           const redis::Value* reply) mutable {
    if (by_sha && error == redis::errc::error_reply && reply != nullptr &&
        redis_ops::is_noscript(*reply)) {
      // The SHA stays right (it is the script's digest): EVAL caches the script on that node
      // again, and the next EVALSHA finds it.
      if (destroying_) return finish(done, Result<bool>(make_error_code(errc::closed)));
      return send_put(std::move(key), std::move(value), false, std::move(done));
    }
    if (error) return finish(done, Result<bool>(failure(error, reply)));
    finish(done, redis_ops::read_put(*reply));
  });
}

void RedisStore::remove(std::string_view key, RemoveCallback done) {
  loop_.assert_in_loop_thread("RedisStore::remove");
  ++stats_.removes;
  if (auto refused = refusal(key, 0)) {
    ++stats_.failures;
    return done(refused);
  }
  ++stats_.pending;
  target_->command(redis_ops::remove(key), [this, done = std::move(done)](
                                               std::error_code error,
                                               const redis::Value* reply) mutable {
    if (error) return finish(done, Result<bool>(failure(error, reply)));
    finish(done, redis_ops::read_remove(*reply));
  });
}

void RedisStore::scan(std::string_view prefix, size_t limit, ScanCallback done) {
  loop_.assert_in_loop_thread("RedisStore::scan");
  ++stats_.scans;
  limit = std::min(limit, limits_.max_scan);
  std::error_code refused;
  if (prefix.size() > limits_.max_key) refused = make_error_code(errc::bad_key);
  if (!refused && stats_.pending >= queue_capacity_) refused = make_error_code(errc::overloaded);
  if (refused) {
    ++stats_.failures;
    return done(refused);
  }
  if (limit == 0) return done(std::vector<std::string>());
  ++stats_.pending;
  auto state = std::make_unique<ScanState>();
  state->prefix = std::string(prefix);
  state->pattern = redis_ops::scan_pattern(prefix);
  state->limit = limit;
  state->deadline = loop_.now() + deadline_;
  state->done = std::move(done);
  target_->masters([this, state = std::move(state)](std::error_code error,
                                                    std::vector<InetAddress> nodes) mutable {
    if (destroying_) return end_scan(std::move(state), make_error_code(errc::closed));
    if (error) return end_scan(std::move(state), failure(error, nullptr));
    if (nodes.empty()) return end_scan(std::move(state), make_error_code(errc::unavailable));
    state->nodes = std::move(nodes);
    scan_page(std::move(state), "0");
  });
}

// One SCAN call to the current node; its keys are merged into the state, keeping the `limit`
// smallest seen so far (memory stays bounded however many keys match), then the next page,
// the next node, or the end.
void RedisStore::scan_page(std::unique_ptr<ScanState> state, std::string cursor) {
  redis::Command command = redis_ops::scan(cursor, state->pattern);
  const InetAddress node = state->nodes[state->node];
  target_->command_to(node, std::move(command), [this, state = std::move(state)](
                                           std::error_code error,
                                           const redis::Value* reply) mutable {
    if (destroying_) return end_scan(std::move(state), make_error_code(errc::closed));
    if (error) return end_scan(std::move(state), failure(error, reply));
    auto page = redis_ops::read_scan(*reply);
    if (!page) return end_scan(std::move(state), page.error());
    for (std::string& key : page->keys) {
      // MATCH is the server's filter; the prefix check keeps the answer right whatever it did.
      if (std::string_view(key).starts_with(state->prefix)) state->keys.push_back(std::move(key));
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
  });
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
    if (auto refused = refusal(write.key, value_size)) {
      ++stats_.failures;
      return done(refused);
    }
  }
  if (writes.empty()) return done({});
  ++stats_.pending;
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
    target_->command_group(redis_ops::batch(group), [this, state](std::error_code error,
                                                                  const redis::Value* reply) {
      std::error_code outcome = error ? failure(error, reply) : redis_ops::read_exec(*reply);
      if (outcome && !state->first_error) state->first_error = outcome;
      if (--state->remaining == 0) finish(state->done, state->first_error);
    });
  }
}

StoreStats RedisStore::stats() const {
  StoreStats stats = stats_;
  target_->add_redirections(stats);
  return stats;
}

}  // namespace tern::store
