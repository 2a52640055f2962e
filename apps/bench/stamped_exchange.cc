#include "stamped_exchange.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "tern/net/tcp_connection.h"

namespace tern::bench {
namespace {

constexpr size_t kScratchLimit = 256 * 1024;  // a batch larger than this goes in several writes

std::byte printable(size_t i) {
  static constexpr std::string_view kChars =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_+=.,;!?#%&*()[]{}<>";
  return static_cast<std::byte>(kChars[(i * 7 + 3) % kChars.size()]);
}

void hex(uint64_t value, int digits, std::byte* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < digits; ++i) {
    out[i] = static_cast<std::byte>(kHex[(value >> (4 * (digits - 1 - i))) & 0xf]);
  }
}

}  // namespace

StampedWorkload::StampedWorkload(Format format, size_t size, size_t depth) : format_(format) {
  switch (format) {
    case Format::echo_block:
      template_.resize(size);
      for (size_t i = 0; i < size; ++i) template_[i] = static_cast<std::byte>(i * 251 + 17);
      stamp_offset_ = 0;
      stamp_size_ = std::min<size_t>(size, 8);
      break;
    case Format::line:
      template_.resize(size);
      for (size_t i = 0; i < size; ++i) template_[i] = printable(i);
      template_[size - 1] = std::byte{'\n'};
      stamp_offset_ = 0;
      stamp_size_ = std::min<size_t>(size - 1, kMaxStamp);
      break;
    case Format::length_prefixed:
      template_.resize(size + 4);
      template_[0] = static_cast<std::byte>(size >> 24);
      template_[1] = static_cast<std::byte>(size >> 16);
      template_[2] = static_cast<std::byte>(size >> 8);
      template_[3] = static_cast<std::byte>(size);
      for (size_t i = 0; i < size; ++i) template_[4 + i] = printable(i);
      stamp_offset_ = 4;
      stamp_size_ = std::min<size_t>(size, kMaxStamp);
      break;
  }
  scratch_.resize(std::clamp(template_.size() * depth, template_.size(), kScratchLimit));
}

void StampedWorkload::stamp(uint32_t connection_id, uint64_t seq, std::byte* out) const noexcept {
  if (format_ == Format::echo_block) {
    uint64_t value = (seq * 0x9E3779B97F4A7C15ull) ^ (uint64_t{connection_id} << 40) ^ seq;
    for (size_t i = 0; i < stamp_size_; ++i) out[i] = static_cast<std::byte>(value >> (8 * i));
    return;
  }
  std::byte text[kMaxStamp];
  hex(seq, 8, text);
  text[8] = std::byte{':'};
  hex(connection_id, 6, text + 9);
  text[15] = std::byte{':'};
  std::memcpy(out, text, stamp_size_);
}

std::unique_ptr<Exchange> StampedWorkload::make_exchange(uint32_t connection_id) {
  return std::make_unique<StampedExchange>(*this, connection_id);
}

StampedExchange::StampedExchange(const StampedWorkload& workload, uint32_t connection_id)
    : workload_(workload), id_(connection_id) {
  reset();
}

void StampedExchange::reset() noexcept {
  seq_ = 0;
  offset_ = 0;
  broken_ = false;
  workload_.stamp(id_, 0, expected_stamp_.data());
}

std::error_code StampedExchange::send(TcpConnection& conn, uint64_t first_seq, size_t count,
                                      size_t& bytes) {
  const size_t size = workload_.message_size();
  const auto& tmpl = workload_.message_template();
  auto& scratch = workload_.scratch();
  const size_t per_write = std::max<size_t>(1, scratch.size() / size);
  bytes = 0;
  for (size_t done = 0; done < count;) {
    const size_t n = std::min(per_write, count - done);
    if (n * size > scratch.size()) scratch.resize(n * size);  // one message larger than 256 KiB
    for (size_t i = 0; i < n; ++i) {
      std::byte* message = scratch.data() + i * size;
      std::memcpy(message, tmpl.data(), size);
      workload_.stamp(id_, first_seq + done + i, message + workload_.stamp_offset());
    }
    if (auto error = conn.write(ConstBuffer(scratch.data(), n * size))) return error;
    bytes += n * size;
    done += n;
  }
  return {};
}

bool StampedExchange::matches(const std::byte* data, size_t size) const noexcept {
  const size_t from = offset_, to = offset_ + size;
  const size_t stamp_from = workload_.stamp_offset();
  const size_t stamp_to = stamp_from + workload_.stamp_size();
  // The part outside the stamp is the template's; the stamp's part is this message's.
  if (from < stamp_to && to > stamp_from) {
    const size_t a = std::max(from, stamp_from), b = std::min(to, stamp_to);
    if (std::memcmp(data + (a - from), expected_stamp_.data() + (a - stamp_from), b - a) != 0) {
      return false;
    }
    if (a > from && std::memcmp(data, workload_.message_template().data() + from, a - from) != 0) {
      return false;
    }
    return b >= to || std::memcmp(data + (b - from), workload_.message_template().data() + b,
                                  to - b) == 0;
  }
  return std::memcmp(data, workload_.message_template().data() + from, size) == 0;
}

void StampedExchange::receive(std::span<const std::byte> data, ReplySink& sink) {
  if (broken_) return;
  const size_t size = workload_.message_size();
  const std::byte* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    const size_t take = std::min(left, size - offset_);
    if (!matches(p, take)) {
      broken_ = true;
      char why[128];
      std::snprintf(why, sizeof why, "echoed bytes differ in message %llu at offsets %zu..%zu",
                    static_cast<unsigned long long>(seq_), offset_, offset_ + take - 1);
      sink.broken(ReplySink::Failure::mismatch, why);
      return;
    }
    offset_ += take;
    p += take;
    left -= take;
    if (offset_ == size) {
      offset_ = 0;
      ++seq_;
      workload_.stamp(id_, seq_, expected_stamp_.data());
      if (!sink.reply(0)) {
        broken_ = true;
        return;
      }
    }
  }
}

}  // namespace tern::bench
