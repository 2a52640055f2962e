#include "cli_app.h"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <cstdio>

namespace tern::apps {

void CliAppDeleter::operator()(CLI::App* app) const noexcept { delete app; }

CliApp make_cli_app(const std::string& description) {
  return CliApp(new CLI::App(description));
}

std::string cli_help(const CLI::App& app) { return app.help(); }

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

}  // namespace tern::apps
