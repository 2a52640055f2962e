// The option table of tern-proxy: every option but the upstream list, named once (TOML key,
// flag, help, check, reload rule; config_options.h), in the order --help and docs/proxy.md
// list them. proxy_config.cc reads the file, the flags and reloads through it.
//
// Included by the config's .cc files only (config_options.h brings in toml++ and CLI11).
// Thread rule: the table is built once, on first use, and only read after; use it from the main
// thread (start-up and SIGHUP), like ProxyConfig.
#pragma once

#include <vector>

#include "config_options.h"
#include "proxy_config.h"

namespace tern::apps {

const std::vector<ConfigOption<ProxyConfig>>& proxy_options();

}  // namespace tern::apps
