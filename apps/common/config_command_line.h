// ConfigCommandLine<Config>: the command line of a program configured by an option table
// (config_options.h): --config FILE, the shared server flags the program offers
// (server_rows.h), every option's own flag, and --help listing them all; load() layers the
// defaults, the file and the flags given. One copy for tern-httpd, tern-kv and tern-proxy: they
// differ by a CommandLineSpec, not by code.
//
//   class KvCommandLine : public ConfigCommandLine<KvConfig> {
//    public:
//     KvCommandLine();  // kv_config.cc: ConfigCommandLine({.program = "tern-kv", ...})
//   };
//
// The member functions are defined in config_command_line_impl.h, which brings in toml++ and
// the option tables: a program's config .cc includes it and instantiates the template for
// its Config (`template class ConfigCommandLine<KvConfig>;`), so that the program's other files
// (main, the app, the tests) see only this light declaration.
//
// Thread rule: main thread only (start-up and SIGHUP), like the configs.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli_app.h"  // CLI11 declared, the app made and asked for help in cli_app.cc

namespace tern::apps {

template <class Config>
struct ConfigOption;
struct ServerRows;

// What one program's command line is made of.
template <class Config>
struct CommandLineSpec {
  std::string program;      // "tern-kv": a bad flag's message names it
  std::string description;  // the first line of --help
  std::string config_help;  // --config's help
  // The program's option table and the shared rows it offers: statics, borrowed for good.
  const std::vector<ConfigOption<Config>>* options = nullptr;
  const ServerRows* server_rows = nullptr;
  // Reads a TOML file over a config (the program's read_config_file): nullopt, or what is wrong.
  std::optional<std::string> (*read_file)(const std::string& path, Config& config) = nullptr;
  // Flags that are no row of the table (tern-proxy's --upstream), added right after --config
  // so that --help lists them before the shared ones. May be empty.
  std::function<void(CLI::App& app, Config& flags)> add_own_flags;
  // Says a bad flag on stderr, given CLI11's message. Empty: "PROGRAM: WHAT" and a second line
  // pointing at --help.
  std::function<void(const char* what)> report_bad_flag;
};

template <class Config>
class ConfigCommandLine {
 public:
  // Builds the CLI11 app: --config, the spec's own flags, the shared flags, the table's flags.
  explicit ConfigCommandLine(CommandLineSpec<Config> spec);
  ConfigCommandLine(const ConfigCommandLine&) = delete;
  ConfigCommandLine& operator=(const ConfigCommandLine&) = delete;

  // Parses argv. Returns the exit status when the program must stop now (0 after --help, 2
  // with a message on stderr for a bad flag), nullopt to go on.
  std::optional<int> parse(int argc, char** argv);
  // The same from a list of arguments (tests); the program name is added.
  std::optional<int> parse(const std::vector<std::string>& args);

  // The defaults, then the config file if one was given, then every flag given on the command
  // line. On failure returns nullopt with `why` naming the file, line, key and problem (or the
  // flag). Called at start and again on SIGHUP (the file reread, the flags still winning).
  std::optional<Config> load(std::string& why) const;

  const std::string& config_path() const noexcept { return config_path_; }
  std::string help() const;

 protected:
  // For a program that adds to the app or reads flags beyond the table (tern-proxy).
  CLI::App& app() noexcept { return *app_; }
  const CLI::App& app() const noexcept { return *app_; }
  const Config& flags() const noexcept { return flags_; }

 private:
  CommandLineSpec<Config> spec_;
  CliApp app_;
  Config flags_;  // where CLI11 stores the flags' values
  std::string config_path_;
};

}  // namespace tern::apps
