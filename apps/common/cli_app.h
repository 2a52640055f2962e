// The programs' command lines reach CLI11 through this header, which only declares it: parsing
// CLI/CLI.hpp costs about 4 s of compile per translation unit, and each one that calls it
// compiles CLI11's inline code again (about 190 KB). cli_app.cc is the one file that does both
// for the config tables (server_flags.cc, tern-echo's and tern-bench's mains and tern-proxy's
// --upstream still use CLI11 directly).
//
// Thread rule: main thread only (start-up and SIGHUP), like the command lines.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace CLI {
class App;
}

namespace tern::apps {

struct CliAppDeleter {
  void operator()(CLI::App* app) const noexcept;
};
using CliApp = std::unique_ptr<CLI::App, CliAppDeleter>;

CliApp make_cli_app(const std::string& description);
std::string cli_help(const CLI::App& app);

// Adds the flag `flag` to `app`, storing into `field`; with `show_default`, --help shows the
// field's value as the default. Defined in cli_app.cc for the field types the tables use
// (another type is a link error that names it).
template <class T>
void add_value_flag(CLI::App& app, const std::string& flag, T& field, const std::string& help,
                    bool show_default = true);
// How many times `flag` was given on the command line `app` parsed.
size_t flag_count(const CLI::App& app, const std::string& flag);

// Parses argv into `app`. Returns the exit status when the program must stop now (0 after
// --help, printed on stdout; 2 for a bad flag, after `report_bad_flag` got CLI11's message),
// nullopt to go on.
std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv,
                                      const std::function<void(const char*)>& report_bad_flag);

}  // namespace tern::apps
