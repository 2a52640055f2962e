// JsonValue and parse_json: a small, strict JSON reader for tests that check a program's
// `--json` output (tern-bench). Not a general library: numbers are doubles, \u escapes outside
// ASCII are kept as '?', and the whole text must be exactly one value (whitespace around it
// allowed), so a program that prints anything besides its one document fails the parse.
//
//   std::string error;
//   auto doc = tern::test::parse_json(out, error);     // nullopt, error says where and why
//   const JsonValue* replies = doc->at("totals.replies");   // nullptr when absent
//
// Thread rule: plain values; parse_json is reentrant.
#pragma once

#include <cctype>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tern::test {

struct JsonValue {
  enum class Kind { null, boolean, number, string, array, object };
  Kind kind = Kind::null;
  bool boolean = false;
  double number = 0;
  std::string text;                                     // Kind::string
  std::vector<JsonValue> items;                         // Kind::array
  std::vector<std::pair<std::string, JsonValue>> members;  // Kind::object, in document order

  bool is_number() const { return kind == Kind::number; }
  // The member `key` of an object, or nullptr.
  const JsonValue* get(std::string_view key) const {
    if (kind != Kind::object) return nullptr;
    for (const auto& [name, value] : members) {
      if (name == key) return &value;
    }
    return nullptr;
  }
  // The value at a dotted path of object keys ("latency_ns.p99"), or nullptr.
  const JsonValue* at(std::string_view path) const {
    const JsonValue* value = this;
    while (value != nullptr && !path.empty()) {
      size_t dot = path.find('.');
      value = value->get(path.substr(0, dot));
      path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
    }
    return value;
  }
};

namespace json_detail {

class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}

  std::optional<JsonValue> document(std::string& error) {
    JsonValue value;
    skip_space();
    if (!parse_value(value, 0)) {
      error = error_;
      return std::nullopt;
    }
    skip_space();
    if (at_ != text_.size()) {
      error = where("text after the JSON value");
      return std::nullopt;
    }
    return value;
  }

 private:
  static constexpr int kMaxDepth = 64;

  std::string where(std::string_view what) const {
    return std::string(what) + " at offset " + std::to_string(at_) + " near '" +
           std::string(text_.substr(at_, 24)) + "'";
  }
  bool fail(std::string_view what) {
    if (error_.empty()) error_ = where(what);
    return false;
  }
  void skip_space() {
    while (at_ < text_.size() && (text_[at_] == ' ' || text_[at_] == '\n' ||
                                  text_[at_] == '\r' || text_[at_] == '\t')) {
      ++at_;
    }
  }
  bool consume(std::string_view word) {
    if (text_.substr(at_, word.size()) != word) return false;
    at_ += word.size();
    return true;
  }

  bool parse_value(JsonValue& value, int depth) {
    if (depth > kMaxDepth) return fail("nesting too deep");
    if (at_ >= text_.size()) return fail("unexpected end");
    char c = text_[at_];
    if (c == '{') return parse_object(value, depth);
    if (c == '[') return parse_array(value, depth);
    if (c == '"') {
      value.kind = JsonValue::Kind::string;
      return parse_string(value.text);
    }
    if (consume("true") || consume("false")) {
      value.kind = JsonValue::Kind::boolean;
      value.boolean = c == 't';
      return true;
    }
    if (consume("null")) {
      value.kind = JsonValue::Kind::null;
      return true;
    }
    return parse_number(value);
  }

  bool parse_number(JsonValue& value) {
    size_t start = at_;
    if (at_ < text_.size() && text_[at_] == '-') ++at_;
    auto digits = [&] {
      size_t from = at_;
      while (at_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[at_]))) ++at_;
      return at_ > from;
    };
    if (!digits()) return fail("expected a value");
    if (at_ < text_.size() && text_[at_] == '.') {
      ++at_;
      if (!digits()) return fail("expected digits after '.'");
    }
    if (at_ < text_.size() && (text_[at_] == 'e' || text_[at_] == 'E')) {
      ++at_;
      if (at_ < text_.size() && (text_[at_] == '+' || text_[at_] == '-')) ++at_;
      if (!digits()) return fail("expected an exponent");
    }
    std::string literal(text_.substr(start, at_ - start));
    value.kind = JsonValue::Kind::number;
    value.number = std::strtod(literal.c_str(), nullptr);
    return true;
  }

  bool parse_string(std::string& out) {
    ++at_;  // the opening quote
    while (at_ < text_.size()) {
      char c = text_[at_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return fail("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_ >= text_.size()) break;
      char e = text_[at_++];
      switch (e) {
        case '"': case '\\': case '/': out += e; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          if (at_ + 4 > text_.size()) return fail("short \\u escape");
          unsigned long code = std::strtoul(std::string(text_.substr(at_, 4)).c_str(), nullptr, 16);
          out += code < 0x80 ? static_cast<char>(code) : '?';
          at_ += 4;
          break;
        }
        default: return fail("bad escape");
      }
    }
    return fail("unterminated string");
  }

  bool parse_array(JsonValue& value, int depth) {
    value.kind = JsonValue::Kind::array;
    ++at_;
    skip_space();
    if (consume("]")) return true;
    for (;;) {
      JsonValue item;
      skip_space();
      if (!parse_value(item, depth + 1)) return false;
      value.items.push_back(std::move(item));
      skip_space();
      if (consume("]")) return true;
      if (!consume(",")) return fail("expected ',' or ']'");
    }
  }

  bool parse_object(JsonValue& value, int depth) {
    value.kind = JsonValue::Kind::object;
    ++at_;
    skip_space();
    if (consume("}")) return true;
    for (;;) {
      skip_space();
      if (at_ >= text_.size() || text_[at_] != '"') return fail("expected a key");
      std::string key;
      if (!parse_string(key)) return false;
      skip_space();
      if (!consume(":")) return fail("expected ':'");
      skip_space();
      JsonValue member;
      if (!parse_value(member, depth + 1)) return false;
      value.members.emplace_back(std::move(key), std::move(member));
      skip_space();
      if (consume("}")) return true;
      if (!consume(",")) return fail("expected ',' or '}'");
    }
  }

  std::string_view text_;
  size_t at_ = 0;
  std::string error_;
};

}  // namespace json_detail

// The one JSON value `text` holds, or nullopt with `error` saying where parsing stopped.
inline std::optional<JsonValue> parse_json(std::string_view text, std::string& error) {
  return json_detail::Reader(text).document(error);
}

}  // namespace tern::test
