// The member functions of ConfigCommandLine<Config> (config_command_line.h). Included by the
// programs' config .cc files only, each of which instantiates the template for its Config:
// this header brings in toml++ and the option tables (config_options.h, server_rows.h).
//
// Thread rule: main thread only (start-up and SIGHUP), like the configs.
#pragma once

#include <cstdio>
#include <memory>
#include <utility>

#include "config_command_line.h"
#include "config_options.h"
#include "server_rows.h"

namespace tern::apps {

template <class Config>
ConfigCommandLine<Config>::ConfigCommandLine(CommandLineSpec<Config> spec)
    : spec_(std::move(spec)), app_(make_cli_app(spec_.description)) {
  add_value_flag(*app_, "--config", config_path_, spec_.config_help, /*show_default=*/false);
  if (spec_.add_own_flags) spec_.add_own_flags(*app_, flags_);
  add_server_flags(*app_, flags_.server, *spec_.server_rows);
  add_option_flags(*spec_.options, *app_, flags_);
}

template <class Config>
std::string ConfigCommandLine<Config>::help() const {
  return cli_help(*app_);
}

template <class Config>
std::optional<int> ConfigCommandLine<Config>::parse(int argc, char** argv) {
  if (spec_.report_bad_flag) return parse_command_line(*app_, argc, argv, spec_.report_bad_flag);
  return parse_command_line(*app_, argc, argv, [this](const char* what) {
    std::fprintf(stderr, "%s: %s\nRun '%s --help' for the options.\n", spec_.program.c_str(),
                 what, spec_.program.c_str());
  });
}

template <class Config>
std::optional<int> ConfigCommandLine<Config>::parse(const std::vector<std::string>& args) {
  std::vector<std::string> storage;
  storage.push_back(spec_.program);
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : storage) argv.push_back(arg.data());
  return parse(static_cast<int>(argv.size()), argv.data());
}

template <class Config>
std::optional<Config> ConfigCommandLine<Config>::load(std::string& why) const {
  Config config;
  if (!config_path_.empty()) {
    if (auto error = spec_.read_file(config_path_, config)) {
      why = *error;
      return std::nullopt;
    }
  }
  if (!apply_given_flags(*spec_.options, *app_, flags_, config, why)) return std::nullopt;
  // --reuse-port is a second spelling of --balance reuse-port: a shared flag that is no row of a
  // table with --balance (where the table has a reuse_port row, its copy already did this).
  if (flag_count(*app_, "--reuse-port") > 0) config.server.reuse_port = flags_.server.reuse_port;
  return config;
}

}  // namespace tern::apps
