// key_slot: CRC16/XMODEM from a table built at compile time, over the key's hash tag.
#include "tern/redis/key_slot.h"

#include <array>

namespace tern::redis {
namespace {

// The CRC of each byte value, one shift-and-xor per bit: the table of the byte-wise algorithm.
constexpr std::array<uint16_t, 256> make_table() {
  std::array<uint16_t, 256> table{};
  for (unsigned byte = 0; byte < 256; ++byte) {
    uint16_t crc = uint16_t(byte << 8);
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000) != 0 ? uint16_t((crc << 1) ^ 0x1021) : uint16_t(crc << 1);
    }
    table[byte] = crc;
  }
  return table;
}

constexpr std::array<uint16_t, 256> kTable = make_table();

}  // namespace

uint16_t crc16(std::string_view bytes) noexcept {
  uint16_t crc = 0;
  for (unsigned char c : bytes) crc = uint16_t((crc << 8) ^ kTable[((crc >> 8) ^ c) & 0xff]);
  return crc;
}

std::string_view hash_tag(std::string_view key) noexcept {
  size_t open = key.find('{');
  if (open == std::string_view::npos) return key;
  size_t close = key.find('}', open + 1);
  if (close == std::string_view::npos || close == open + 1) return key;
  return key.substr(open + 1, close - open - 1);
}

uint16_t key_slot(std::string_view key) noexcept {
  return uint16_t(crc16(hash_tag(key)) & (kClusterSlots - 1));
}

}  // namespace tern::redis
