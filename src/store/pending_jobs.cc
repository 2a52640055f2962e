// PendingJobs: the loop side of the storage thread's jobs.
#include "store/pending_jobs.h"

#include <utility>

#include "tern/loop/event_loop.h"

namespace tern::store {

PendingJobs::PendingJobs(EventLoop& loop, Duration deadline, size_t max_parked,
                         Resubmit resubmit)
    : loop_(loop), deadline_(deadline), max_parked_(max_parked), resubmit_(std::move(resubmit)) {}

void PendingJobs::prepare(StoreJob& job) {
  job.loop = loop_.handle();
  job.owner = weak_from_this();
  job.id = next_id_++;
  job.enqueued = loop_.now();
}

void PendingJobs::add(std::shared_ptr<StoreJob> job) {
  arm_deadline(*job);
  uint64_t id = job->id;
  jobs_.emplace(id, std::move(job));
  ++stats_.pending;
}

// From the job's issue time (prepare), so a parked job's wait counts against its deadline.
void PendingJobs::arm_deadline(StoreJob& job) {
  Duration left = job.enqueued + deadline_ - loop_.now();
  if (left < Duration::zero()) left = Duration::zero();
  job.deadline_timer = loop_.run_after(left, [owner = weak_from_this(), id = job.id] {
    if (auto self = owner.lock()) self->expire(id);
  });
}

bool PendingJobs::park(const std::shared_ptr<StoreJob>& job) {
  // Parked jobs that their deadline ended are dropped from the front first: they hold no room.
  while (!parked_.empty() && !jobs_.contains(parked_.front()->id)) parked_.pop_front();
  if (parked_.size() >= max_parked_) return false;
  ++stats_.room_waits;
  parked_.push_back(job);
  add(job);
  return true;
}

void PendingJobs::room() {
  while (!parked_.empty()) {
    std::shared_ptr<StoreJob> job = parked_.front();
    auto it = jobs_.find(job->id);
    if (it == jobs_.end() || it->second != job) {  // its deadline ended it while it waited
      parked_.pop_front();
      continue;
    }
    std::error_code error = resubmit_(job);
    if (error == errc::overloaded) return;  // full again: the next signal resumes here
    parked_.pop_front();
    if (!error) continue;
    jobs_.erase(it);
    loop_.cancel(job->deadline_timer);
    complete(*job, error);
  }
}

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
  parked_.clear();
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
