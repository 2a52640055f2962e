// SlotMap: a table of 16384 owner indexes over the distinct masters.
#include "tern/redis/slot_map.h"

#include <charconv>
#include <string>
#include <system_error>

#include "tern/redis/key_slot.h"

namespace tern::redis {
namespace {

std::error_code bad_reply() { return std::make_error_code(std::errc::bad_message); }

bool is_text(const Value& value) noexcept {
  return value.type == Type::bulk_string || value.type == Type::simple_string ||
         value.type == Type::verbatim_string;
}

// [host, port, ...] of an entry's master.
Result<InetAddress> parse_node(const Value& node, const InetAddress* queried) {
  if ((node.type != Type::array && node.type != Type::set) || node.elements.size() < 2) {
    return bad_reply();
  }
  const Value& host = node.elements[0];
  const Value& port = node.elements[1];
  if (!is_text(host) || port.type != Type::integer || port.integer < 0 || port.integer > 65535) {
    return bad_reply();
  }
  std::string name(host.text);
  if (name.empty() || name == "?") {
    if (queried == nullptr) return bad_reply();
    name = queried->host();
  }
  Result<InetAddress> address = InetAddress::parse(name, uint16_t(port.integer));
  if (!address.ok()) return bad_reply();
  return address;
}

Result<SlotMap> parse(const Value& reply, const InetAddress* queried) {
  if (reply.type != Type::array) return bad_reply();
  SlotMap map;
  for (const Value& entry : reply.elements) {
    if (entry.type != Type::array || entry.elements.size() < 3) return bad_reply();
    const Value& first = entry.elements[0];
    const Value& last = entry.elements[1];
    if (first.type != Type::integer || last.type != Type::integer || first.integer < 0 ||
        last.integer >= kClusterSlots || first.integer > last.integer) {
      return bad_reply();
    }
    Result<InetAddress> master = parse_node(entry.elements[2], queried);
    if (!master.ok()) return master.error();
    for (int64_t slot = first.integer; slot <= last.integer; ++slot) {
      map.assign(uint16_t(slot), *master);
    }
  }
  return map;
}

}  // namespace

SlotMap::SlotMap() : owner_(kClusterSlots, 0) {}

Result<SlotMap> SlotMap::from_cluster_slots(const Value& reply) { return parse(reply, nullptr); }

Result<SlotMap> SlotMap::from_cluster_slots(const Value& reply, const InetAddress& queried) {
  return parse(reply, &queried);
}

const InetAddress* SlotMap::master_for(uint16_t slot) const noexcept {
  if (slot >= kClusterSlots || owner_[slot] == 0) return nullptr;
  return &masters_[owner_[slot] - 1];
}

uint16_t SlotMap::index_of(const InetAddress& master) {
  for (size_t i = 0; i < masters_.size(); ++i) {
    if (masters_[i] == master) return uint16_t(i);
  }
  masters_.push_back(master);
  owned_.push_back(0);
  return uint16_t(masters_.size() - 1);
}

void SlotMap::set(uint16_t slot, uint16_t owner) noexcept {
  uint16_t& current = owner_[slot];
  if (current == 0) {
    ++covered_;
  } else {
    --owned_[current - 1];
  }
  current = uint16_t(owner + 1);
  ++owned_[owner];
}

void SlotMap::assign(uint16_t slot, const InetAddress& master) {
  if (slot >= kClusterSlots) return;
  set(slot, index_of(master));
}

std::vector<InetAddress> SlotMap::masters() const {
  std::vector<InetAddress> out;
  for (size_t i = 0; i < masters_.size(); ++i) {
    if (owned_[i] > 0) out.push_back(masters_[i]);
  }
  return out;
}

bool SlotMap::complete() const noexcept { return covered_ == kClusterSlots; }

std::vector<SlotOwner> SlotMap::ranges() const {
  std::vector<SlotOwner> out;
  for (uint32_t slot = 0; slot < kClusterSlots; ++slot) {
    uint16_t owner = owner_[slot];
    if (owner == 0) continue;
    if (!out.empty() && out.back().last + 1u == slot && out.back().master == masters_[owner - 1]) {
      out.back().last = uint16_t(slot);
    } else {
      out.push_back(SlotOwner{uint16_t(slot), uint16_t(slot), masters_[owner - 1]});
    }
  }
  return out;
}

}  // namespace tern::redis
