// Outlier ejection with exponential backoff and slow start (the passive health check).
#include "tern/proxy/ejection.h"

#include <algorithm>

namespace tern::proxy {
namespace {

constexpr double kSlowStartFloor = 0.1;  // the weight share a re-admitted upstream starts at

// base * 2^(level-1), at most max (computed without overflowing for large levels).
Duration ejection_time(const EjectionOptions& options, int level) noexcept {
  Duration time = options.base_time;
  for (int k = 1; k < level && time < options.max_time; ++k) time *= 2;
  return std::min(time, options.max_time);
}

}  // namespace

Ejection::Ejection(EjectionOptions options) : options_(options) {}

void Ejection::on_success(TimePoint) noexcept { failures_ = 0; }

bool Ejection::on_failure(TimePoint now) noexcept {
  // Failures of requests started before the ejection say nothing new about the upstream.
  if (ejected(now)) return false;
  ++failures_;
  if (options_.consecutive_failures <= 0 || failures_ < options_.consecutive_failures) {
    return false;
  }
  level_ = level(now) + 1;
  ejected_until_ = now + ejection_time(options_, level_);
  ++ejections_;
  failures_ = 0;
  ramping_ = options_.slow_start > Duration::zero();
  slow_start_from_ = ejected_until_;
  return true;
}

bool Ejection::ejected(TimePoint now) const noexcept { return now < ejected_until_; }

TimePoint Ejection::ejected_until() const noexcept { return ejected_until_; }

double Ejection::weight_factor(TimePoint now) const noexcept {
  if (!ramping_) return 1.0;
  if (now <= slow_start_from_) return kSlowStartFloor;
  auto elapsed = std::chrono::duration<double>(now - slow_start_from_);
  double ramp = elapsed / std::chrono::duration<double>(options_.slow_start);
  if (ramp >= 1.0) return 1.0;
  return kSlowStartFloor + (1.0 - kSlowStartFloor) * ramp;
}

void Ejection::begin_slow_start(TimePoint now) noexcept {
  if (options_.slow_start <= Duration::zero()) return;
  ramping_ = true;
  slow_start_from_ = std::max(now, ejected_until_);
}

int Ejection::consecutive_failures() const noexcept { return failures_; }
uint64_t Ejection::ejections() const noexcept { return ejections_; }

int Ejection::level(TimePoint now) const noexcept {
  // Admitted for max_time since the last ejection ended: the next one starts from base again.
  if (level_ > 0 && now >= ejected_until_ + options_.max_time) return 0;
  return level_;
}

const EjectionOptions& Ejection::options() const noexcept { return options_; }

}  // namespace tern::proxy
