// SlotMap: which master serves each of the 16384 hash slots of a Redis Cluster, read from a
// node's CLUSTER SLOTS reply and corrected slot by slot as MOVED redirections arrive.
//
// A value type (copyable: 32 KiB of slot owners and the distinct masters). Thread rule: one
// thread at a time; const methods from any thread.
#pragma once

#include <cstdint>
#include <vector>

#include "tern/base/result.h"
#include "tern/net/inet_address.h"
#include "tern/redis/resp.h"

namespace tern::redis {

struct SlotOwner {
  uint16_t first = 0, last = 0;   // a range of slots, both ends included
  InetAddress master;
};

class SlotMap {
 public:
  SlotMap();

  // From a CLUSTER SLOTS reply (RESP2 or RESP3): entries [first, last, [host, port, id, ...],
  // replicas...]; replicas are ignored. A later entry overrides an earlier one where they
  // overlap. std::errc::bad_message for an error reply or a reply of another shape (a slot
  // beyond 16383, first > last, a host that is no numeric address, a port beyond 65535).
  static Result<SlotMap> from_cluster_slots(const Value& reply);
  // The same; a master announced with an empty (or "?") host, which means "the node you asked",
  // gets the host of `queried`.
  static Result<SlotMap> from_cluster_slots(const Value& reply, const InetAddress& queried);

  const InetAddress* master_for(uint16_t slot) const noexcept;   // null: slot not covered
  void assign(uint16_t slot, const InetAddress& master);          // after a MOVED
  std::vector<InetAddress> masters() const;   // distinct masters owning a slot, in the order
                                              // first seen
  bool complete() const noexcept;             // all 16384 covered
  std::vector<SlotOwner> ranges() const;      // runs of slots with one owner (logs, tests)

 private:
  uint16_t index_of(const InetAddress& master);
  void set(uint16_t slot, uint16_t owner) noexcept;

  std::vector<uint16_t> owner_;        // per slot: index + 1 into masters_, 0: not covered
  std::vector<InetAddress> masters_;   // every master ever named, first seen first
  std::vector<uint32_t> owned_;        // per master: slots it owns
  uint32_t covered_ = 0;
};

}  // namespace tern::redis
