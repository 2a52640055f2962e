#include "json_writer.h"

#include <cmath>
#include <cstdio>

namespace tern::bench {

void JsonWriter::key(std::string_view name) {
  if (!first_.empty()) {
    if (!first_.back()) out_ += ", ";
    first_.back() = false;
  }
  if (!name.empty()) {
    string(name);
    out_ += ": ";
  }
}

void JsonWriter::string(std::string_view text) {
  out_ += '"';
  for (char c : text) {
    switch (c) {
      case '"': out_ += "\\\""; break;
      case '\\': out_ += "\\\\"; break;
      case '\n': out_ += "\\n"; break;
      case '\r': out_ += "\\r"; break;
      case '\t': out_ += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
          out_ += escaped;
        } else {
          out_ += c;
        }
    }
  }
  out_ += '"';
}

JsonWriter& JsonWriter::begin_object(std::string_view name) {
  key(name);
  out_ += '{';
  first_.push_back(true);
  return *this;
}

JsonWriter& JsonWriter::end_object() {
  out_ += '}';
  first_.pop_back();
  return *this;
}

JsonWriter& JsonWriter::begin_array(std::string_view name) {
  key(name);
  out_ += '[';
  first_.push_back(true);
  return *this;
}

JsonWriter& JsonWriter::end_array() {
  out_ += ']';
  first_.pop_back();
  return *this;
}

JsonWriter& JsonWriter::value(std::string_view name, std::string_view text) {
  key(name);
  string(text);
  return *this;
}

JsonWriter& JsonWriter::value(std::string_view name, uint64_t number) {
  key(name);
  out_ += std::to_string(number);
  return *this;
}

JsonWriter& JsonWriter::value(std::string_view name, int64_t number) {
  key(name);
  out_ += std::to_string(number);
  return *this;
}

JsonWriter& JsonWriter::value(std::string_view name, double number) {
  key(name);
  if (!std::isfinite(number)) {
    out_ += "0";  // JSON has no NaN or infinity; every figure here is a rate or a ratio
    return *this;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.10g", number);  // valid JSON, exponent included
  out_ += text;
  return *this;
}

JsonWriter& JsonWriter::value(std::string_view name, bool flag) {
  key(name);
  out_ += flag ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::null(std::string_view name) {
  key(name);
  out_ += "null";
  return *this;
}

}  // namespace tern::bench
