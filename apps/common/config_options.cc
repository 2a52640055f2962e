#include "config_options.h"

#include <CLI/CLI.hpp>

#include "config_command_line.h"

#include <cstdint>
#include <cstdio>

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

std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv,
                                      const std::function<void(const char*)>& report_bad_flag) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app.help().c_str());
    return 0;
  } catch (const CLI::ParseError& error) {
    report_bad_flag(error.what());
    return 2;
  }
  return std::nullopt;
}

template <class T>
void add_value_flag(CLI::App& app, const std::string& flag, T& field, const std::string& help,
                    bool show_default) {
  CLI::Option* option = app.add_option(flag, field, help);
  if (show_default) option->capture_default_str();
}

// The field types of the programs' tables (and --config's string).
template void add_value_flag(CLI::App&, const std::string&, std::string&, const std::string&,
                             bool);
template void add_value_flag(CLI::App&, const std::string&, bool&, const std::string&, bool);
template void add_value_flag(CLI::App&, const std::string&, int&, const std::string&, bool);
template void add_value_flag(CLI::App&, const std::string&, uint16_t&, const std::string&, bool);
template void add_value_flag(CLI::App&, const std::string&, uint32_t&, const std::string&, bool);
template void add_value_flag(CLI::App&, const std::string&, uint64_t&, const std::string&, bool);
template void add_value_flag(CLI::App&, const std::string&, double&, const std::string&, bool);

size_t flag_count(const CLI::App& app, const std::string& flag) { return app.count(flag); }

void CliAppDeleter::operator()(CLI::App* app) const noexcept { delete app; }

CliApp make_cli_app(const std::string& description) {
  return CliApp(new CLI::App(description));
}

std::string cli_help(const CLI::App& app) { return app.help(); }

}  // namespace tern::apps
