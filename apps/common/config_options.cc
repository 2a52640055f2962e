#include "config_options.h"

namespace tern::apps {

std::optional<LogLevel> parse_log_level(std::string_view name) {
  if (name == "debug") return LogLevel::debug;
  if (name == "info") return LogLevel::info;
  if (name == "warn") return LogLevel::warn;
  if (name == "error") return LogLevel::error;
  if (name == "off") return LogLevel::off;
  return std::nullopt;
}

std::string position(const std::string& path, const toml::source_region& where) {
  return path + ":" + std::to_string(where.begin.line) + ":" + std::to_string(where.begin.column);
}

const toml::source_region& where_of(const toml::key& name, const toml::node& node) {
  return name.source().begin.line ? name.source() : node.source();
}

std::optional<std::string> parse_toml_file(const std::string& path, toml::table& file) {
  // toml++ reports a syntax error by throwing; it is caught here, on the main thread.
  try {
    file = toml::parse_file(path);
  } catch (const toml::parse_error& error) {
    return position(path, error.source()) + ": " + std::string(error.description());
  }
  return std::nullopt;
}

}  // namespace tern::apps
