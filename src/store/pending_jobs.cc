// PendingJobs: the loop side of the storage thread's jobs.
#include "store/pending_jobs.h"

#include <utility>

#include "tern/loop/event_loop.h"

namespace tern::store {

PendingJobs::PendingJobs(EventLoop& loop, Duration deadline, size_t max_parked,
                         Resubmit resubmit)
    : loop_(loop),
      deadline_(deadline),
      resubmit_(std::move(resubmit)),
      parked_(loop, deadline, max_parked) {}

void PendingJobs::prepare(StoreJob& job) {
  job.loop = loop_.handle();
  job.owner = weak_from_this();
  job.id = next_id_++;
  job.enqueued = loop_.now();
}

void PendingJobs::add(std::shared_ptr<StoreJob> job) {
  ++stats_.pending;
  track(std::move(job));
}

// The deadline runs from the job's issue time (prepare), so a parked job's wait counts.
void PendingJobs::track(std::shared_ptr<StoreJob> job) {
  Duration left = job->enqueued + deadline_ - loop_.now();
  if (left < Duration::zero()) left = Duration::zero();
  job->deadline_timer = loop_.run_after(left, [owner = weak_from_this(), id = job->id] {
    if (auto self = owner.lock()) self->expire(id);
  });
  uint64_t id = job->id;
  jobs_.emplace(id, std::move(job));
}

bool PendingJobs::park(const std::shared_ptr<StoreJob>& job) {
  if (!parked_.can_hold()) return false;
  ++stats_.room_waits;
  ++stats_.pending;  // complete() or finished() counts it down
  parked_.hold(job->enqueued, [this, job](std::error_code failed) {
    if (!failed) return resubmit(job);
    complete(*job, failed);  // its deadline passed while it waited: it never ran
    return true;
  });
  return true;
}

bool PendingJobs::resubmit(const std::shared_ptr<StoreJob>& job) {
  std::error_code error = resubmit_(job);
  if (error == errc::overloaded) return false;  // full again: the next signal resumes here
  if (error) {
    complete(*job, error);
  } else {
    track(job);
  }
  return true;
}

void PendingJobs::room() { parked_.room(); }

void PendingJobs::refuse(StoreJob& job, std::error_code error) {
  ++stats_.pending;  // complete() counts it down
  complete(job, error);
}

void PendingJobs::finished(const std::shared_ptr<StoreJob>& job) {
  auto it = jobs_.find(job->id);
  if (it == jobs_.end() || it->second != job) return;  // the deadline ended it first
  jobs_.erase(it);
  loop_.cancel(job->deadline_timer);
  complete(*job, {});
}

void PendingJobs::expire(uint64_t id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  std::shared_ptr<StoreJob> job = it->second;
  // queued or taken: the deadline wins. finished: the thread's result is already posted and
  // will complete the job on this loop in a moment: let it.
  JobState state = job->state.load();
  while (state == JobState::queued || state == JobState::taken) {
    if (job->state.compare_exchange_weak(state, JobState::expired)) {
      jobs_.erase(id);
      complete(*job, errc::timeout);
      return;
    }
  }
}

void PendingJobs::abandon() {
  for (auto& [id, job] : jobs_) {
    loop_.cancel(job->deadline_timer);
    if (!job->writes()) {
      JobState queued = JobState::queued;
      job->state.compare_exchange_strong(queued, JobState::expired);
    }
    job->finish = nullptr;  // what the callback owns dies here, on its loop
  }
  jobs_.clear();
  parked_.clear();  // never submitted: nothing of theirs runs
  resubmit_ = nullptr;
  stats_.pending = 0;
}

// Runs the callback once; it is moved out first, so what it captured is destroyed on this
// loop even when the storage thread holds the job's last reference.
void PendingJobs::complete(StoreJob& job, std::error_code error) {
  --stats_.pending;
  if (error || job.error) ++stats_.failures;
  StoreJob::Finish finish = std::move(job.finish);
  if (finish) finish(job, error);
}

}  // namespace tern::store
