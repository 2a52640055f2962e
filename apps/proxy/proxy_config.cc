#include "proxy_config.h"

#include <CLI/CLI.hpp>  // --upstream, the help's footer: tern-proxy's own command line

#include <algorithm>
#include <set>
#include <string_view>
#include <utility>

#include "config_command_line_impl.h"
#include "proxy_options.h"

namespace tern::apps {
namespace {

using Option = ConfigOption<ProxyConfig>;

// "hash_key" and "hash-key" name the same key.
std::string canonical_key(std::string_view key) {
  std::string canonical(key);
  std::replace(canonical.begin(), canonical.end(), '_', '-');
  return canonical;
}

constexpr std::string_view kSections[] = {"proxy", "health", "server"};

// One [[upstream]] table: address (required) and weight, as the --upstream flag's text.
std::optional<std::string> read_upstream(const std::string& path, const toml::node& node,
                                         std::vector<std::string>& upstreams) {
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    return position(path, node.source()) + ": upstream: expected [[upstream]] tables";
  }
  std::optional<std::string> address;
  std::optional<int64_t> weight;
  for (auto&& [name, value] : *table) {
    std::string key = "upstream." + std::string(name.str());
    if (name.str() == "address") {
      if (!value.is_string()) {
        return position(path, value.source()) + ": " + key + ": expected a string";
      }
      address = value.as_string()->get();
    } else if (name.str() == "weight") {
      if (!value.is_integer()) {
        return position(path, value.source()) + ": " + key + ": expected an integer";
      }
      weight = value.as_integer()->get();
    } else {
      return position(path, where_of(name, value)) + ": " + key + ": unknown key";
    }
  }
  if (!address) return position(path, node.source()) + ": upstream.address: missing";
  std::string text = *address;
  if (weight) text += ",weight=" + std::to_string(*weight);
  std::string why;
  if (!proxy::parse_upstream(text, why)) {
    return position(path, node.source()) + ": " + why;  // "upstream 'NAME': what is wrong"
  }
  upstreams.push_back(std::move(text));
  return std::nullopt;
}

std::optional<std::string> read_section(const std::string& path, const toml::table& table,
                                        std::string_view section, ProxyConfig& config) {
  for (auto&& [name, node] : table) {
    std::string key = std::string(section) + "." + std::string(name.str());
    const Option* option = find_option(proxy_options(), canonical_key(key));
    if (auto error = read_option(path, option, key, name, node, config)) return error;
  }
  return std::nullopt;
}

std::optional<std::string> read_root(const std::string& path, const toml::table& root,
                                     ProxyConfig& config) {
  bool file_upstreams = false;
  for (auto&& [name, node] : root) {
    std::string key(name.str());
    if (key == "upstream") {
      const toml::array* list = node.as_array();
      if (list == nullptr) {
        return position(path, where_of(name, node)) + ": upstream: expected [[upstream]] tables";
      }
      if (!file_upstreams) config.upstreams.clear();
      file_upstreams = true;
      for (const toml::node& entry : *list) {
        if (auto error = read_upstream(path, entry, config.upstreams)) return error;
      }
      continue;
    }
    if (std::find(std::begin(kSections), std::end(kSections), key) != std::end(kSections)) {
      if (!node.is_table()) {
        return position(path, where_of(name, node)) + ": " + key + ": expected a [" + key +
               "] table";
      }
      if (auto error = read_section(path, *node.as_table(), key, config)) return error;
      continue;
    }
    return position(path, where_of(name, node)) + ": " + key +
           ": unknown key (sections: [proxy], [[upstream]], [health], [server])";
  }
  return std::nullopt;
}

std::chrono::milliseconds ms(int value) { return std::chrono::milliseconds(value); }

std::optional<std::vector<proxy::UpstreamConfig>> resolve_upstreams(const ProxyConfig& config,
                                                                    std::string& why) {
  std::vector<proxy::UpstreamConfig> upstreams;
  std::set<std::string> names;
  for (const std::string& text : config.upstreams) {
    std::string problem;
    auto upstream = proxy::parse_upstream(text, problem);
    if (!upstream) {
      why = problem;  // "upstream 'NAME': what is wrong"
      return std::nullopt;
    }
    if (!names.insert(upstream->name).second) {
      why = "upstream '" + upstream->name + "' is listed twice";
      return std::nullopt;
    }
    upstreams.push_back(std::move(upstream.value()));
  }
  if (upstreams.empty()) {
    why = "no upstream: give --upstream HOST:PORT (or [[upstream]] address in the file)";
    return std::nullopt;
  }
  return upstreams;
}

bool is_loopback(const InetAddress& address) {
  std::string text = address.to_string();
  return text.starts_with("127.") || text.starts_with("[::1]");
}

}  // namespace

ServerFlags ProxyConfig::default_server_flags() {
  ServerFlags flags;
  flags.idle_timeout_ms = 60'000;
  flags.write_timeout_ms = 30'000;
  return flags;
}

LogLevel configured_log_level(const ProxyConfig& config) {
  return parse_log_level(config.log_level).value_or(LogLevel::info);
}

std::optional<ProxySettings> resolve(const ProxyConfig& config, std::string& why) {
  ProxySettings settings;
  if (config.listen.empty()) {
    why = "no listen address: give --listen HOST:PORT (or [proxy] listen in the file)";
    return std::nullopt;
  }
  for (const Option& option : proxy_options()) {
    if (std::string bad = option.check(config); !bad.empty()) {
      why = option.key + ": " + bad;
      return std::nullopt;
    }
  }
  settings.mode = *proxy::parse_mode(config.mode);
  settings.listen = *parse_host_port(config.listen, why);
  if (!config.admin.empty()) {
    settings.admin = *parse_host_port(config.admin, why);
    if (!is_loopback(*settings.admin)) {
      why = "proxy.admin: '" + config.admin + "' must be a loopback address (127.0.0.1, ::1)";
      return std::nullopt;
    }
    if (settings.admin->port() != 0 && *settings.admin == settings.listen) {
      why = "proxy.admin: must not be the listen address";
      return std::nullopt;
    }
  }
  auto upstreams = resolve_upstreams(config, why);
  if (!upstreams) return std::nullopt;
  settings.upstreams = std::move(*upstreams);

  // The shared conversion checks the model, pattern and backend; the address is ours.
  ServerFlags flags = config.server;
  flags.host = "127.0.0.1";
  flags.port = 0;
  auto server = to_server_options(flags, why);
  if (!server) {
    why = why.substr(0, why.find('\n'));  // one line; --help lists the valid combinations
    return std::nullopt;
  }
  settings.server = server.value();
  settings.server.address = settings.listen;
  if (settings.server.model == Model::lf) {
    why = "--model lf is not served by tern-proxy (it keeps state per loop): use single, loops "
          "or hsha";
    return std::nullopt;
  }
  if (settings.mode == proxy::Mode::tcp && settings.server.model != Model::single &&
      settings.server.model != Model::loops) {
    why = "--mode tcp runs under --model single or loops (not " + config.server.model + ")";
    return std::nullopt;
  }
  if (config.eject_base_ms > config.eject_max_ms) {
    why = "proxy.eject-base-ms (" + std::to_string(config.eject_base_ms) +
          ") must not exceed proxy.eject-max-ms (" + std::to_string(config.eject_max_ms) + ")";
    return std::nullopt;
  }
  settings.drain_ms = config.server.drain_ms;

  ConnectionPoolOptions pool;
  pool.max_connections = config.upstream_max_connections;
  pool.max_idle = config.upstream_max_connections;
  pool.idle_timeout = ms(config.upstream_idle_timeout_ms);
  pool.connect.timeout = ms(config.connect_timeout_ms);
  pool.connect.max_attempts = 1;  // another upstream is tried instead (retries)
  pool.max_waiters = config.max_queued;
  pool.wait_timeout = ms(config.queue_timeout_ms);
  proxy::EjectionOptions ejection;
  ejection.consecutive_failures = config.eject_after;
  ejection.base_time = ms(config.eject_base_ms);
  ejection.max_time = ms(config.eject_max_ms);
  ejection.slow_start = ms(config.slow_start_ms);
  proxy::RetryOptions retry;
  retry.max_attempts = config.max_attempts;
  retry.budget_ratio = config.retry_budget;
  auto algorithm = *proxy::parse_algorithm(config.balance);

  settings.http.balance = algorithm;
  settings.http.hash_key = *proxy::parse_hash_key(config.hash_key);
  settings.http.ejection = ejection;
  settings.http.retry = retry;
  settings.http.pool = pool;
  settings.http.response_timeout = ms(config.response_timeout_ms);
  settings.http.max_response_body = config.max_response_body;

  settings.tcp.balance = algorithm;
  settings.tcp.ejection = ejection;
  settings.tcp.retry = retry;
  settings.tcp.pool = pool;

  if (settings.mode == proxy::Mode::tcp || !config.health_path.empty()) {
    proxy::HealthCheckOptions health;
    health.kind = settings.mode == proxy::Mode::tcp ? proxy::HealthCheckOptions::Kind::tcp
                                                    : proxy::HealthCheckOptions::Kind::http;
    if (!config.health_path.empty()) health.path = config.health_path;
    health.interval = ms(config.health_interval_ms);
    health.timeout = ms(config.health_timeout_ms);
    health.rise = config.health_rise;
    health.fall = config.health_fall;
    settings.health = health;
  }
  return settings;
}

std::vector<std::string> restart_only_changes(const ProxyConfig& running,
                                              const ProxyConfig& loaded) {
  return restart_only_keys(proxy_options(), running, loaded);
}

ProxyConfig with_live_changes(const ProxyConfig& running, const ProxyConfig& loaded) {
  ProxyConfig next = with_live_options(proxy_options(), running, loaded);
  next.upstreams = loaded.upstreams;
  return next;
}

std::optional<std::string> read_config_file(const std::string& path, ProxyConfig& config) {
  toml::table file;
  if (auto error = parse_toml_file(path, file)) return error;
  return read_root(path, file, config);
}

template class ConfigCommandLine<ProxyConfig>;

ProxyCommandLine::ProxyCommandLine()
    : ConfigCommandLine({
          .program = "tern-proxy",
          .description = "tern-proxy: an HTTP and TCP load balancer (access server) built on tern",
          .config_help = "TOML file with the options below (docs/proxy.md); flags override it; "
                         "SIGHUP rereads it",
          .options = &proxy_options(),
          .server_rows = &proxy_server_rows(),
          .read_file = &read_config_file,
          .add_own_flags =
              [](CLI::App& cli, ProxyConfig& into) {
                cli.add_option("--upstream", into.upstreams,
                               "an upstream: HOST:PORT or HOST:PORT,weight=W (1..1000); repeat "
                               "for more; replaces the file's [[upstream]] list");
              },
          .report_bad_flag =
              [](const char* what) {
                std::fprintf(stderr, "tern-proxy: %s (run 'tern-proxy --help' for the options)\n",
                             what);
              },
      }) {
  app().get_option("--reuse-port")
      ->description("loops, hsha: a SO_REUSEPORT listener per loop (the kernel spreads clients)");
  app().footer("Valid --model/--pattern/--backend combinations (tern-proxy: not lf; --mode tcp: "
               "single or loops):\n" +
               valid_combinations());
}

std::optional<ProxyConfig> ProxyCommandLine::load(std::string& why) const {
  std::optional<ProxyConfig> config = ConfigCommandLine::load(why);
  if (!config) return std::nullopt;
  if (app().count("--upstream") > 0) config->upstreams = flags().upstreams;
  if (!resolve(*config, why)) return std::nullopt;
  return config;
}

}  // namespace tern::apps
