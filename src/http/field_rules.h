// The character classes of RFC 9110 5.6 and RFC 9112 as 256-entry tables, so that checking a
// byte is one load: tokens (method, field name, coding, chunk extension), field values, request
// targets, reason phrases and quoted strings.
//
// Thread rule: constants; any thread.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace tern::http::rules {

using Table = std::array<bool, 256>;

// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" /
//         "~" / DIGIT / ALPHA
constexpr Table make_token_table() {
  Table t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}

// field-vchar / SP / HTAB: VCHAR, obs-text (0x80-0xFF), SP and HTAB. Not CR, LF, NUL, the other
// controls, or DEL.
constexpr Table make_field_value_table() {
  Table t{};
  t['\t'] = true;
  for (int c = 0x20; c <= 0x7e; ++c) t[c] = true;
  for (int c = 0x80; c <= 0xff; ++c) t[c] = true;
  return t;
}

// A request-target byte: visible ASCII except '#' (a fragment is never sent). Not SP, not a
// control, not DEL, not obs-text: a target is ASCII (RFC 3986 percent-encodes the rest).
constexpr Table make_target_table() {
  Table t{};
  for (int c = 0x21; c <= 0x7e; ++c) t[c] = true;
  t['#'] = false;
  return t;
}

// qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text (RFC 9110 5.6.4).
constexpr Table make_qdtext_table() {
  Table t = make_field_value_table();
  t['"'] = false;
  t['\\'] = false;
  t[0x7f] = false;
  return t;
}

// A Host value (RFC 3986 authority without userinfo): reg-name / IP-literal, then ":" port.
constexpr Table make_host_table() {
  Table t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("-._~!$&'()*+,;=%:[]")) t[static_cast<unsigned char>(c)] = true;
  return t;
}

inline constexpr Table kToken = make_token_table();
inline constexpr Table kFieldValue = make_field_value_table();
inline constexpr Table kTarget = make_target_table();
inline constexpr Table kQdText = make_qdtext_table();
inline constexpr Table kHost = make_host_table();

constexpr bool is(const Table& table, char c) noexcept {
  return table[static_cast<unsigned char>(c)];
}

// True if `text` is non-empty and every byte is in `table`.
constexpr bool all_of(const Table& table, std::string_view text) noexcept {
  if (text.empty()) return false;
  for (char c : text) {
    if (!is(table, c)) return false;
  }
  return true;
}

// True if every byte of `text` is a field-value byte (kFieldValue; empty is true). Eight bytes
// at a time: a word with no control byte (< 0x20) and no DEL is accepted whole (obs-text, with
// its high bit set, passes both tests); only a word that holds one (a rare HTAB, or an error)
// is looked at byte by byte. Field values are most of a request's bytes.
inline bool all_field_value(std::string_view text) noexcept {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHighs = 0x8080808080808080ull;
  size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, text.data() + i, 8);
    uint64_t below_space = (word - kOnes * 0x20) & ~word & kHighs;
    uint64_t del = word ^ (kOnes * 0x7f);
    uint64_t is_del = (del - kOnes) & ~del & kHighs;
    if ((below_space | is_del) != 0) {
      for (size_t j = i; j < i + 8; ++j) {
        if (!is(kFieldValue, text[j])) return false;
      }
    }
  }
  for (; i < text.size(); ++i) {
    if (!is(kFieldValue, text[i])) return false;
  }
  return true;
}

constexpr bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }
constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// The value of a hex digit, or -1.
constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// `text` without leading and trailing SP / HTAB.
constexpr std::string_view trim_ows(std::string_view text) noexcept {
  while (!text.empty() && is_ows(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_ows(text.back())) text.remove_suffix(1);
  return text;
}

}  // namespace tern::http::rules
