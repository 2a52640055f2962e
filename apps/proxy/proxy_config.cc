#include "proxy_config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <set>
#include <string_view>
#include <type_traits>
#include <utility>

#include "tern/base/logging.h"

namespace tern::apps {
namespace {

// Whether SIGHUP applies a changed value (live) or logs it as needing a restart.
enum class Reload { live, restart };

// One option, named once: TOML key, flag, help, check, reload rule, and how to move its value.
struct Option {
  std::string key;   // "section.name" in the TOML file
  std::string flag;  // "--name"
  bool shared_flag;  // added by add_server_flags (server_flags.h), not here
  Reload reload;
  std::string help;
  std::function<std::string(const toml::node&, ProxyConfig&)> read;  // "" or what is wrong
  std::function<std::string(const ProxyConfig&)> check;              // "" or what is wrong
  std::function<void(CLI::App&, ProxyConfig&)> add_flag;
  std::function<void(const ProxyConfig& from, ProxyConfig& to)> copy;
  std::function<bool(const ProxyConfig&, const ProxyConfig&)> differs;
};

template <class T>
using Check = std::function<std::string(const T&)>;

// The value of `node` as a T, or what is wrong with it.
template <class T>
std::optional<T> toml_value(const toml::node& node, std::string& why) {
  if constexpr (std::is_same_v<T, std::string>) {
    if (auto* text = node.as_string()) return text->get();
    why = "expected a string";
  } else if constexpr (std::is_same_v<T, bool>) {
    if (auto* flag = node.as_boolean()) return flag->get();
    why = "expected true or false";
  } else if constexpr (std::is_floating_point_v<T>) {
    if (auto* number = node.as_floating_point()) return static_cast<T>(number->get());
    if (auto* number = node.as_integer()) return static_cast<T>(number->get());
    why = "expected a number";
  } else {
    static_assert(std::is_integral_v<T>);
    auto* number = node.as_integer();
    if (number == nullptr) {
      why = "expected an integer";
      return std::nullopt;
    }
    int64_t value = number->get();
    bool fits = std::is_signed_v<T>
                    ? value >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
                          value <= static_cast<int64_t>(std::numeric_limits<T>::max())
                    : value >= 0 && static_cast<uint64_t>(value) <= std::numeric_limits<T>::max();
    if (fits) return static_cast<T>(value);
    why = std::is_signed_v<T> ? "out of range" : "must be a non-negative integer in range";
  }
  return std::nullopt;
}

// `access` is a generic lambda returning a reference to the option's field of a config.
template <class Access>
Option make_option(std::string key, std::string flag, bool shared_flag, Reload reload,
                   std::string help, Access access,
                   Check<std::remove_cvref_t<decltype(access(std::declval<ProxyConfig&>()))>>
                       check = {}) {
  using T = std::remove_cvref_t<decltype(access(std::declval<ProxyConfig&>()))>;
  Option option{std::move(key), std::move(flag), shared_flag, reload, std::move(help),
                {}, {}, {}, {}, {}};
  option.check = [access, check](const ProxyConfig& config) -> std::string {
    return check ? check(access(config)) : std::string();
  };
  option.read = [access, check](const toml::node& node, ProxyConfig& config) -> std::string {
    std::string why;
    auto value = toml_value<T>(node, why);
    if (!value) return why;
    if (check) why = check(*value);
    if (why.empty()) access(config) = std::move(*value);
    return why;
  };
  if (!shared_flag) {
    option.add_flag = [access, flag = option.flag, help = option.help](CLI::App& app,
                                                                       ProxyConfig& config) {
      app.add_option(flag, access(config), help)->capture_default_str();
    };
  }
  option.copy = [access](const ProxyConfig& from, ProxyConfig& to) { access(to) = access(from); };
  option.differs = [access](const ProxyConfig& a, const ProxyConfig& b) {
    return access(a) != access(b);
  };
  return option;
}

template <class T>
Check<T> in_range(T minimum, T maximum) {
  return [minimum, maximum](const T& value) -> std::string {
    if (value >= minimum && value <= maximum) return {};
    return "must be in " + std::to_string(minimum) + ".." + std::to_string(maximum);
  };
}

template <class T>
Check<T> at_least(T minimum) {
  return in_range(minimum, std::numeric_limits<T>::max());
}

template <class Parse>
Check<std::string> one_of(Parse parse, std::string names, bool empty_ok = false) {
  return [parse, names, empty_ok](const std::string& text) -> std::string {
    if ((empty_ok && text.empty()) || parse(text)) return {};
    return "'" + text + "' is not one of " + names;
  };
}

Check<std::string> host_port(bool empty_ok) {
  return [empty_ok](const std::string& text) -> std::string {
    std::string why;
    if ((empty_ok && text.empty()) || parse_host_port(text, why)) return {};
    return why;
  };
}

// An HTTP path sent in the checks' request line: empty (no checks) or "/" and visible ASCII.
Check<std::string> health_path() {
  return [](const std::string& path) -> std::string {
    if (path.empty()) return {};
    if (path.front() != '/') return "'" + path + "' must start with '/'";
    for (char c : path) {
      if (c <= 0x20 || c > 0x7e) return "must be printable ASCII without spaces";
    }
    return {};
  };
}

std::optional<LogLevel> parse_log_level(std::string_view name) {
  if (name == "debug") return LogLevel::debug;
  if (name == "info") return LogLevel::info;
  if (name == "warn") return LogLevel::warn;
  if (name == "error") return LogLevel::error;
  if (name == "off") return LogLevel::off;
  return std::nullopt;
}

constexpr bool kShared = true;
constexpr bool kOwn = false;
constexpr int kMaxMs = 24 * 3600 * 1000;  // a day: larger is surely a typo

// Every option of tern-proxy (but the upstream list), in the order --help and docs/proxy.md
// list them.
const std::vector<Option>& options() {
  static const std::vector<Option> table = [] {
    std::vector<Option> t;
    auto add = [&](Option o) { t.push_back(std::move(o)); };
    using R = Reload;
    // [proxy]
    add(make_option("proxy.listen", "--listen", kOwn, R::restart,
                    "address clients connect to: HOST:PORT (port 0: any free port)",
                    [](auto& c) -> auto& { return c.listen; }, host_port(false)));
    add(make_option("proxy.mode", "--mode", kOwn, R::restart,
                    "http (requests re-framed and balanced one by one) or tcp (bytes relayed)",
                    [](auto& c) -> auto& { return c.mode; },
                    one_of(proxy::parse_mode, "http|tcp")));
    add(make_option("proxy.balance", "--balance", kOwn, R::restart,
                    "round-robin|least-outstanding|p2c|maglev",
                    [](auto& c) -> auto& { return c.balance; },
                    one_of(proxy::parse_algorithm, "round-robin|least-outstanding|p2c|maglev")));
    add(make_option("proxy.hash-key", "--hash-key", kOwn, R::restart,
                    "maglev's key: client|header:NAME|cookie:NAME|path (tcp: always client)",
                    [](auto& c) -> auto& { return c.hash_key; },
                    one_of(proxy::parse_hash_key, "client|header:NAME|cookie:NAME|path")));
    add(make_option("proxy.admin", "--admin", kOwn, R::restart,
                    "admin API listener, HOST:PORT on loopback (empty: off)",
                    [](auto& c) -> auto& { return c.admin; }, host_port(true)));
    add(make_option("proxy.upstream-max-connections", "--upstream-max-connections", kOwn,
                    R::restart, "connections to one upstream from one loop (busy or idle)",
                    [](auto& c) -> auto& { return c.upstream_max_connections; },
                    in_range<size_t>(1, 1 << 20)));
    add(make_option("proxy.upstream-idle-timeout-ms", "--upstream-idle-timeout-ms", kOwn,
                    R::restart, "close an idle upstream connection after this long (0: never)",
                    [](auto& c) -> auto& { return c.upstream_idle_timeout_ms; },
                    in_range(0, kMaxMs)));
    add(make_option("proxy.connect-timeout-ms", "--connect-timeout-ms", kOwn, R::restart,
                    "one connect to an upstream",
                    [](auto& c) -> auto& { return c.connect_timeout_ms; }, in_range(1, kMaxMs)));
    add(make_option("proxy.queue-timeout-ms", "--queue-timeout-ms", kOwn, R::restart,
                    "a request waiting for an upstream connection (all busy) gets 503 after this",
                    [](auto& c) -> auto& { return c.queue_timeout_ms; }, in_range(1, kMaxMs)));
    add(make_option("proxy.max-queued", "--max-queued", kOwn, R::restart,
                    "requests that may wait for a connection to one upstream per loop (0: none)",
                    [](auto& c) -> auto& { return c.max_queued; }, in_range<size_t>(0, 1 << 20)));
    add(make_option("proxy.response-timeout-ms", "--response-timeout-ms", kOwn, R::restart,
                    "a whole upstream response (504 past it)",
                    [](auto& c) -> auto& { return c.response_timeout_ms; },
                    in_range(1, kMaxMs)));
    add(make_option("proxy.max-attempts", "--max-attempts", kOwn, R::restart,
                    "tries of one request in all, the first included (1: never retry)",
                    [](auto& c) -> auto& { return c.max_attempts; }, in_range(1, 10)));
    add(make_option("proxy.retry-budget", "--retry-budget", kOwn, R::restart,
                    "retries in flight at most this share of requests in flight (0..1)",
                    [](auto& c) -> auto& { return c.retry_budget; }, in_range(0.0, 1.0)));
    add(make_option("proxy.eject-after", "--eject-after", kOwn, R::restart,
                    "failures in a row (connect, reset, timeout, 5xx) that eject an upstream "
                    "(0: never)",
                    [](auto& c) -> auto& { return c.eject_after; }, in_range(0, 1000)));
    add(make_option("proxy.eject-base-ms", "--eject-base-ms", kOwn, R::restart,
                    "the first ejection's length; each one in a row doubles it",
                    [](auto& c) -> auto& { return c.eject_base_ms; }, in_range(1, kMaxMs)));
    add(make_option("proxy.eject-max-ms", "--eject-max-ms", kOwn, R::restart,
                    "the longest ejection",
                    [](auto& c) -> auto& { return c.eject_max_ms; }, in_range(1, kMaxMs)));
    add(make_option("proxy.slow-start-ms", "--slow-start-ms", kOwn, R::restart,
                    "a re-admitted upstream's weight ramps from 10% to 100% over this (0: none)",
                    [](auto& c) -> auto& { return c.slow_start_ms; }, in_range(0, kMaxMs)));
    add(make_option("proxy.max-response-body", "--max-response-body", kOwn, R::restart,
                    "largest upstream response body in bytes (502 past it)",
                    [](auto& c) -> auto& { return c.max_response_body; },
                    in_range<size_t>(0, size_t{1} << 40)));
    // [health]: live (the checkers are rebuilt on SIGHUP).
    add(make_option("health.path", "--health-path", kOwn, R::live,
                    "http mode: active checks GET this path (2xx/3xx healthy; empty: passive "
                    "checks only); tcp mode checks by connecting",
                    [](auto& c) -> auto& { return c.health_path; }, health_path()));
    add(make_option("health.interval-ms", "--health-interval-ms", kOwn, R::live,
                    "time between two checks of one upstream",
                    [](auto& c) -> auto& { return c.health_interval_ms; }, in_range(1, kMaxMs)));
    add(make_option("health.timeout-ms", "--health-timeout-ms", kOwn, R::live,
                    "one check: connect and whole response",
                    [](auto& c) -> auto& { return c.health_timeout_ms; }, in_range(1, kMaxMs)));
    add(make_option("health.rise", "--health-rise", kOwn, R::live,
                    "checks passed in a row that bring a down upstream up",
                    [](auto& c) -> auto& { return c.health_rise; }, in_range(1, 1000)));
    add(make_option("health.fall", "--health-fall", kOwn, R::live,
                    "checks failed in a row that take an up upstream down",
                    [](auto& c) -> auto& { return c.health_fall; }, in_range(1, 1000)));
    // [server]: the shared flags (server_flags.h); a restart changes them.
    add(make_option("server.backend", "--backend", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.backend; },
                    one_of(parse_backend_kind, std::string(backend_kind_names()))));
    add(make_option("server.model", "--model", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.model; },
                    one_of(parse_model, "single|loops|hsha")));
    add(make_option("server.pattern", "--pattern", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.pattern; },
                    one_of(parse_pattern, "reactor|proactor|emulated", /*empty_ok=*/true)));
    add(make_option("server.threads", "--threads", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.threads; }, in_range(1, 1024)));
    add(make_option("server.workers", "--workers", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.workers; }, in_range(0, 1024)));
    add(make_option("server.reuse-port", "--reuse-port", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.reuse_port; }));
    add(make_option("server.queue", "--queue", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.queue; }, at_least<size_t>(1)));
    add(make_option("server.high-water", "--high-water", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.high_water; }, at_least<size_t>(1)));
    add(make_option("server.max-connections", "--max-connections", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.max_connections; }));
    add(make_option("server.idle-timeout-ms", "--idle-timeout-ms", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.idle_timeout_ms; },
                    in_range(0, kMaxMs)));
    add(make_option("server.write-timeout-ms", "--write-timeout-ms", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.write_timeout_ms; },
                    in_range(0, kMaxMs)));
    add(make_option("server.drain-ms", "--drain-ms", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.drain_ms; }, in_range(0, kMaxMs)));
    add(make_option("server.strict", "--strict", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.strict; }));
    add(make_option("server.send-zc-threshold", "--send-zc-threshold", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.send_zc_threshold; }));
    add(make_option("server.fixed-files", "--fixed-files", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.fixed_files; }));
    add(make_option("server.recv-buffers", "--recv-buffers", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.recv_buffers; },
                    Check<uint32_t>([](const uint32_t& n) -> std::string {
                      if (n == 0 || n > 32768 || (n & (n - 1)) != 0) {
                        return "must be a power of two, 1..32768";
                      }
                      return {};
                    })));
    add(make_option("server.log-file", "--log-file", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.log_file; }));
    add(make_option("server.log-level", "--log-level", kOwn, R::live,
                    "log level: debug|info|warn|error|off",
                    [](auto& c) -> auto& { return c.log_level; },
                    one_of(parse_log_level, "debug|info|warn|error|off")));
    return t;
  }();
  return table;
}

// "hash_key" and "hash-key" name the same key.
std::string canonical_key(std::string_view key) {
  std::string canonical(key);
  std::replace(canonical.begin(), canonical.end(), '_', '-');
  return canonical;
}

const Option* find_option(std::string_view key) {
  std::string canonical = canonical_key(key);
  for (const Option& option : options()) {
    if (option.key == canonical) return &option;
  }
  return nullptr;
}

constexpr std::string_view kSections[] = {"proxy", "health", "server"};

std::string position(const std::string& path, const toml::source_region& where) {
  return path + ":" + std::to_string(where.begin.line) + ":" + std::to_string(where.begin.column);
}

template <class Key>
const toml::source_region& where_of(const Key& name, const toml::node& node) {
  return name.source().begin.line ? name.source() : node.source();
}

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
    const Option* option = find_option(key);
    if (option == nullptr) {
      return position(path, where_of(name, node)) + ": " + key + ": unknown key";
    }
    std::string why = option->read(node, config);
    if (!why.empty()) return position(path, node.source()) + ": " + key + ": " + why;
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

// The shared flags tern-proxy does not take: --listen replaces --host and --port, --balance
// is the proxy's (--reuse-port says how loops share clients), and HTTP or the relay replace
// the built-in framings.
constexpr std::string_view kReplacedFlags[] = {"--host",        "--port",        "--balance",
                                               "--codec",       "--max-message",
                                               "--read-timeout-ms"};

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

std::optional<InetAddress> parse_host_port(std::string_view text, std::string& why) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == text.size()) {
    why = "'" + std::string(text) + "' is not HOST:PORT";
    return std::nullopt;
  }
  std::string_view host = text.substr(0, colon);
  std::string_view port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  uint32_t port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9' || port > 65535) {
      why = "'" + std::string(text) + "': the port must be a number 0..65535";
      return std::nullopt;
    }
    port = port * 10 + static_cast<uint32_t>(c - '0');
  }
  if (port > 65535) {
    why = "'" + std::string(text) + "': the port must be a number 0..65535";
    return std::nullopt;
  }
  if (host == "localhost") host = "127.0.0.1";
  auto address = InetAddress::parse(host, static_cast<uint16_t>(port));
  if (!address) {
    why = "'" + std::string(text) + "': '" + std::string(host) +
          "' is not an IPv4 or IPv6 address (or localhost)";
    return std::nullopt;
  }
  return address.value();
}

std::optional<ProxySettings> resolve(const ProxyConfig& config, std::string& why) {
  ProxySettings settings;
  if (config.listen.empty()) {
    why = "no listen address: give --listen HOST:PORT (or [proxy] listen in the file)";
    return std::nullopt;
  }
  for (const Option& option : options()) {
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
  std::vector<std::string> keys;
  for (const Option& option : options()) {
    if (option.reload == Reload::restart && option.differs(running, loaded)) {
      keys.push_back(option.key);
    }
  }
  return keys;
}

ProxyConfig with_live_changes(const ProxyConfig& running, const ProxyConfig& loaded) {
  ProxyConfig next = running;
  for (const Option& option : options()) {
    if (option.reload == Reload::live) option.copy(loaded, next);
  }
  next.upstreams = loaded.upstreams;
  return next;
}

std::optional<std::string> read_config_file(const std::string& path, ProxyConfig& config) {
  toml::table file;
  try {
    file = toml::parse_file(path);
  } catch (const toml::parse_error& error) {
    return position(path, error.source()) + ": " + std::string(error.description());
  }
  return read_root(path, file, config);
}

ProxyCommandLine::ProxyCommandLine()
    : app_("tern-proxy: an HTTP and TCP load balancer (access server) built on tern") {
  app_.add_option("--config", config_path_,
                  "TOML file with the options below (docs/proxy.md); flags override it; "
                  "SIGHUP rereads it");
  app_.add_option("--upstream", flags_.upstreams,
                  "an upstream: HOST:PORT or HOST:PORT,weight=W (1..1000); repeat for more; "
                  "replaces the file's [[upstream]] list");
  add_server_flags(app_, flags_.server);
  for (std::string_view flag : kReplacedFlags) {
    app_.remove_option(app_.get_option(std::string(flag)));
  }
  app_.get_option("--reuse-port")
      ->description("loops, hsha: a SO_REUSEPORT listener per loop (the kernel spreads clients)");
  for (const Option& option : options()) {
    if (option.add_flag) option.add_flag(app_, flags_);
  }
  app_.footer("Valid --model/--pattern/--backend combinations (tern-proxy: not lf; --mode tcp: "
              "single or loops):\n" +
              valid_combinations());
}

std::optional<int> ProxyCommandLine::parse(int argc, char** argv) {
  try {
    app_.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app_.help().c_str());
    return 0;
  } catch (const CLI::ParseError& error) {
    std::fprintf(stderr, "tern-proxy: %s (run 'tern-proxy --help' for the options)\n",
                 error.what());
    return 2;
  }
  return std::nullopt;
}

std::optional<int> ProxyCommandLine::parse(const std::vector<std::string>& args) {
  std::vector<std::string> storage;
  storage.push_back("tern-proxy");
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : storage) argv.push_back(arg.data());
  return parse(static_cast<int>(argv.size()), argv.data());
}

std::optional<ProxyConfig> ProxyCommandLine::load(std::string& why) const {
  ProxyConfig config;
  if (!config_path_.empty()) {
    if (auto error = read_config_file(config_path_, config)) {
      why = *error;
      return std::nullopt;
    }
  }
  for (const Option& option : options()) {
    if (app_.count(option.flag) == 0) continue;
    if (std::string bad = option.check(flags_); !bad.empty()) {
      why = option.flag + ": " + bad;
      return std::nullopt;
    }
    option.copy(flags_, config);
  }
  if (app_.count("--upstream") > 0) config.upstreams = flags_.upstreams;
  if (!resolve(config, why)) return std::nullopt;
  return config;
}

}  // namespace tern::apps
