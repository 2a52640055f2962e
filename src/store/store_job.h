// StoreJob: one operation handed from a loop's SqliteStore to the storage thread and back.
//
// Ownership and threads: a job is shared (std::shared_ptr) by the loop side, which keeps it
// among its pending jobs until the callback ran, and the storage thread, which holds it from
// the queue until it posts the finished job back to the job's loop. The fields are split by
// who touches them:
//   inputs   written by the loop before submit (the queue's mutex publishes them), then only
//            read;
//   state    an atomic both sides move forward: queued -> taken -> finished, or queued/taken ->
//            expired when the loop's deadline timer fires first (the thread then skips a job
//            still queued, and drops the result of a job it was running);
//   results  written by the storage thread before it posts the job back (the post publishes
//            them), read by the loop only after that;
//   finish   loop thread only: it turns the results (or an error the loop decided, such as
//            timeout) into the user's callback; moved out before it is called, so what it
//            captured is destroyed on the loop, never on the storage thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "tern/base/clock.h"
#include "tern/base/unique_function.h"
#include "tern/loop/loop_handle.h"
#include "tern/loop/timer_id.h"
#include "tern/store/store.h"

namespace tern::store {

class PendingJobs;

enum class JobKind : uint8_t { get, put, remove, scan, batch };
enum class JobState : uint8_t { queued, taken, finished, expired };

struct StoreJob {
  // A finish call with `error` set must not read the results (the thread may still be writing
  // them: the loop's deadline fired first).
  using Finish = UniqueFunction<void(StoreJob& job, std::error_code error)>;

  bool writes() const noexcept {
    return kind == JobKind::put || kind == JobKind::remove || kind == JobKind::batch;
  }

  // Inputs.
  JobKind kind = JobKind::get;
  std::string key;             // get, put, remove; scan: the prefix
  std::string value;           // put
  size_t limit = 0;            // scan, already clamped to Limits::max_scan
  std::vector<Write> batch;    // batch
  TimePoint enqueued{};
  LoopHandle loop;
  std::weak_ptr<PendingJobs> owner;  // the loop side; gone once its Store is destroyed
  uint64_t id = 0;

  std::atomic<JobState> state{JobState::queued};

  // Results.
  std::error_code error;
  bool flag = false;                 // put: created; remove: existed
  std::optional<std::string> found;  // get
  std::vector<std::string> keys;     // scan

  // Loop side only.
  Finish finish;
  TimerId deadline_timer;
};

}  // namespace tern::store
