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
#include "server_rows.h"

namespace tern::apps {

const std::vector<ConfigOption<ProxyConfig>>& proxy_options();

// The shared rows tern-proxy offers (server_rows.h): every one under [server] in kebab-case;
// not --host, --port nor the loops' --balance (--listen and the upstreams' --balance are its
// own; server.reuse-port says how loops share clients); threads and workers up to 1024, times
// up to a day.
const ServerRows& proxy_server_rows();

}  // namespace tern::apps
