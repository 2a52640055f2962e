// JsonWriter: writes one JSON document into a string, in order, with commas and nesting kept
// for the caller. Small on purpose: objects, arrays, strings, integers, doubles, booleans.
// Thread rule: one thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tern::bench {

class JsonWriter {
 public:
  // Containers; a key is given inside an object, none inside an array.
  JsonWriter& begin_object(std::string_view key = {});
  JsonWriter& end_object();
  JsonWriter& begin_array(std::string_view key = {});
  JsonWriter& end_array();
  JsonWriter& value(std::string_view key, std::string_view text);
  JsonWriter& value(std::string_view key, const char* text) {
    return value(key, std::string_view(text));
  }
  JsonWriter& value(std::string_view key, uint64_t number);
  JsonWriter& value(std::string_view key, int number) { return value(key, int64_t(number)); }
  JsonWriter& value(std::string_view key, int64_t number);
  JsonWriter& value(std::string_view key, double number);
  JsonWriter& value(std::string_view key, bool flag);
  JsonWriter& null(std::string_view key);
  // The document (complete once every container is closed).
  const std::string& text() const noexcept { return out_; }

 private:
  void key(std::string_view name);
  void string(std::string_view text);

  std::string out_;
  std::vector<bool> first_;  // per open container: nothing written in it yet
};

}  // namespace tern::bench
