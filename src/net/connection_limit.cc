#include "tern/net/connection_limit.h"

#include <algorithm>

namespace tern {

bool ConnectionLimit::try_claim() noexcept {
  size_t open = open_.load();
  do {
    if (max_ != 0 && open >= max_) return false;
  } while (!open_.compare_exchange_weak(open, open + 1));
  claims_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

bool ConnectionLimit::claim_or_park(Waiter& waiter) {
  {
    std::lock_guard lock(mutex_);
    waiter.parked = true;
    parked_.push_back(&waiter);
    parked_count_.store(parked_.size());
  }
  if (!try_claim()) {
    pauses_.fetch_add(1, std::memory_order_relaxed);
    return false;  // parked: a release will see parked_count_ and wake it
  }
  // A slot freed between the caller's failed claim and the park.
  {
    std::lock_guard lock(mutex_);
    if (waiter.parked) {
      waiter.parked = false;
      std::erase(parked_, &waiter);
      parked_count_.store(parked_.size());
      return true;
    }
  }
  // A release woke the waiter meanwhile: its resumption is on its way and will accept, so
  // this claim is not needed (keeping it too would resume the acceptor twice).
  release_unused();
  return false;
}

void ConnectionLimit::unpark(Waiter& waiter) noexcept {
  std::lock_guard lock(mutex_);
  if (!waiter.parked) return;
  waiter.parked = false;
  std::erase(parked_, &waiter);
  parked_count_.store(parked_.size());
}

void ConnectionLimit::add() noexcept {
  open_.fetch_add(1);
  claims_.fetch_add(1, std::memory_order_relaxed);
}

void ConnectionLimit::release() noexcept {
  open_.fetch_sub(1);
  if (parked_count_.load() != 0) wake_parked();
}

void ConnectionLimit::release_unused() noexcept {
  unused_.fetch_add(1, std::memory_order_relaxed);
  release();
}

void ConnectionLimit::wake_parked() noexcept {
  std::lock_guard lock(mutex_);
  for (Waiter* waiter : parked_) {
    waiter->parked = false;
    waiter->wake();
  }
  parked_.clear();
  parked_count_.store(0);
}

}  // namespace tern
