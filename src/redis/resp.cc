// RESP values: type names, the readable rendering, the parse errors.
#include "tern/redis/resp.h"

#include <cstdio>

namespace tern::redis {
namespace {

class RespCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tern.redis.resp"; }
  std::string message(int value) const override {
    switch (static_cast<resp_errc>(value)) {
      case resp_errc::bad_type: return "RESP: a value starts with an unknown type byte";
      case resp_errc::bad_length: return "RESP: a malformed length";
      case resp_errc::bad_number: return "RESP: a malformed integer, double, big number or boolean";
      case resp_errc::bad_line_end: return "RESP: a line not ended by CR LF";
      case resp_errc::too_large: return "RESP: a bulk string beyond the size limit";
      case resp_errc::too_many_elements: return "RESP: an aggregate beyond the element limit";
      case resp_errc::too_deep: return "RESP: aggregates nested beyond the depth limit";
      case resp_errc::line_too_long: return "RESP: a line beyond the line limit";
    }
    return "RESP: unknown error";
  }
};

// Bytes as a quoted string, the non-printable ones escaped, as redis-cli shows them.
void append_quoted(std::string& out, std::string_view bytes) {
  out += '"';
  for (unsigned char c : bytes) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += char(c);
    } else {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
      out += escaped;
    }
  }
  out += '"';
}

void render(const Value& value, std::string& out);

void render_elements(const Value& value, std::string& out, const char* open, const char* close) {
  out += open;
  bool is_map = value.type == Type::map;
  for (size_t i = 0; i < value.elements.size(); ++i) {
    if (i > 0) out += (is_map && i % 2 == 1) ? ": " : ", ";
    render(value.elements[i], out);
  }
  out += close;
}

void render(const Value& value, std::string& out) {
  switch (value.type) {
    case Type::simple_string: out.append(value.text); return;
    case Type::error: out += "(error) "; out.append(value.text); return;
    case Type::bulk_error: out += "(error) "; append_quoted(out, value.text); return;
    case Type::integer: out += "(integer) " + std::to_string(value.integer); return;
    case Type::bulk_string: append_quoted(out, value.text); return;
    case Type::verbatim_string: append_quoted(out, value.text); return;
    case Type::null: out += "(nil)"; return;
    case Type::double_: out += "(double) "; out.append(value.text); return;
    case Type::boolean: out += value.integer != 0 ? "(true)" : "(false)"; return;
    case Type::big_number: out += "(big number) "; out.append(value.text); return;
    case Type::array: render_elements(value, out, "[", "]"); return;
    case Type::set: render_elements(value, out, "(set) [", "]"); return;
    case Type::push: render_elements(value, out, "(push) [", "]"); return;
    case Type::map: render_elements(value, out, "{", "}"); return;
  }
}

}  // namespace

const char* type_name(Type type) noexcept {
  switch (type) {
    case Type::simple_string: return "simple_string";
    case Type::error: return "error";
    case Type::integer: return "integer";
    case Type::bulk_string: return "bulk_string";
    case Type::array: return "array";
    case Type::null: return "null";
    case Type::double_: return "double";
    case Type::boolean: return "boolean";
    case Type::big_number: return "big_number";
    case Type::bulk_error: return "bulk_error";
    case Type::verbatim_string: return "verbatim_string";
    case Type::map: return "map";
    case Type::set: return "set";
    case Type::push: return "push";
  }
  return "unknown";
}

std::string Value::to_string() const {
  std::string out;
  render(*this, out);
  return out;
}

const std::error_category& resp_error_category() noexcept {
  static const RespCategory category;
  return category;
}

std::error_code make_error_code(resp_errc error) noexcept {
  return {static_cast<int>(error), resp_error_category()};
}

}  // namespace tern::redis
