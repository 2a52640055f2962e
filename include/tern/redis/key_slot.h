// key_slot: the Redis Cluster hash slot of a key, as the cluster specification defines it.
// CRC16 (XMODEM: polynomial 0x1021, initial value 0, no reflection) modulo 16384, over the
// key, or over its hash tag when it has one: the bytes between the first '{' and the first '}'
// after it, when there is at least one byte between them. "{user1000}.following" and
// "{user1000}.followers" share a slot; "{}x" and "x{" hash whole.
//
// Thread rule: pure functions; any thread.
#pragma once

#include <cstdint>
#include <string_view>

namespace tern::redis {

inline constexpr uint16_t kClusterSlots = 16384;

// CRC16/XMODEM of `bytes` ("123456789" gives 0x31C3).
uint16_t crc16(std::string_view bytes) noexcept;
// The bytes a key hashes on: its hash tag, or the whole key.
std::string_view hash_tag(std::string_view key) noexcept;
uint16_t key_slot(std::string_view key) noexcept;

}  // namespace tern::redis
