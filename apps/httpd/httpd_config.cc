#include "httpd_config.h"

#include <toml++/toml.h>

#include <functional>
#include <limits>
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
  std::string key;       // "section.name" in the TOML file
  std::string flag;      // "--name"
  bool shared_flag;      // added by add_server_flags (server_flags.h), not here
  Reload reload;
  std::string help;
  std::function<std::string(const toml::node&, HttpdConfig&)> read;  // "" or what is wrong
  std::function<std::string(const HttpdConfig&)> check;              // "" or what is wrong
  std::function<void(CLI::App&, HttpdConfig&)> add_flag;
  std::function<void(const HttpdConfig& from, HttpdConfig& to)> copy;
  std::function<bool(const HttpdConfig&, const HttpdConfig&)> differs;
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
                   Check<std::remove_cvref_t<decltype(access(std::declval<HttpdConfig&>()))>>
                       check = {}) {
  using T = std::remove_cvref_t<decltype(access(std::declval<HttpdConfig&>()))>;
  Option option{std::move(key), std::move(flag), shared_flag, reload, std::move(help),
                {}, {}, {}, {}, {}};
  option.check = [access, check](const HttpdConfig& config) -> std::string {
    return check ? check(access(config)) : std::string();
  };
  option.read = [access, check](const toml::node& node, HttpdConfig& config) -> std::string {
    std::string why;
    auto value = toml_value<T>(node, why);
    if (!value) return why;
    if (check) why = check(*value);
    if (why.empty()) access(config) = std::move(*value);
    return why;
  };
  if (!shared_flag) {
    option.add_flag = [access, flag = option.flag, help = option.help](CLI::App& app,
                                                                       HttpdConfig& config) {
      app.add_option(flag, access(config), help)->capture_default_str();
    };
  }
  option.copy = [access](const HttpdConfig& from, HttpdConfig& to) { access(to) = access(from); };
  option.differs = [access](const HttpdConfig& a, const HttpdConfig& b) {
    return access(a) != access(b);
  };
  return option;
}

template <class T>
Check<T> at_least(T minimum) {
  return [minimum](const T& value) -> std::string {
    if (value >= minimum) return {};
    return "must be at least " + std::to_string(minimum);
  };
}

template <class Parse>
Check<std::string> one_of(Parse parse, std::string names, bool empty_ok = false) {
  return [parse, names, empty_ok](const std::string& text) -> std::string {
    if ((empty_ok && text.empty()) || parse(text)) return {};
    return "'" + text + "' is not one of " + names;
  };
}

Check<std::string> not_empty() {
  return [](const std::string& text) -> std::string {
    return text.empty() ? "must not be empty" : "";
  };
}

// The Server field is written as is into every response: printable ASCII only.
Check<std::string> field_value() {
  return [](const std::string& text) -> std::string {
    for (char c : text) {
      if (c < 0x20 || c > 0x7e) return "must be printable ASCII (it is sent as a header field)";
    }
    return {};
  };
}

constexpr bool kShared = true;
constexpr bool kOwn = false;

// Every option of tern-httpd, in the order --help and docs/httpd.md list them.
const std::vector<Option>& options() {
  static const std::vector<Option> table = [] {
    std::vector<Option> t;
    auto add = [&](Option o) { t.push_back(std::move(o)); };
    using R = Reload;
    // [server]: the shared flags (server_flags.h); a restart changes them.
    add(make_option("server.host", "--host", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.host; },
                    Check<std::string>([](const std::string& host) -> std::string {
                      if (InetAddress::parse(host, 0)) return {};
                      return "'" + host + "' is not an IPv4 or IPv6 address";
                    })));
    add(make_option("server.port", "--port", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.port; }));
    add(make_option("server.backend", "--backend", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.backend; },
                    one_of(parse_backend_kind, std::string(backend_kind_names()))));
    add(make_option("server.model", "--model", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.model; },
                    one_of(parse_model, "single|loops|hsha|lf")));
    add(make_option("server.pattern", "--pattern", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.pattern; },
                    one_of(parse_pattern, "reactor|proactor|emulated", /*empty_ok=*/true)));
    add(make_option("server.threads", "--threads", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.threads; }, at_least(1)));
    add(make_option("server.workers", "--workers", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.workers; }, at_least(0)));
    add(make_option("server.balance", "--balance", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.balance; },
                    one_of(parse_balancing, "round-robin|reuse-port")));
    add(make_option("server.queue", "--queue", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.queue; }, at_least<size_t>(1)));
    add(make_option("server.high_water", "--high-water", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.high_water; }, at_least<size_t>(1)));
    add(make_option("server.max_connections", "--max-connections", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.max_connections; }));
    add(make_option("server.drain_ms", "--drain-ms", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.drain_ms; }, at_least(0)));
    add(make_option("server.strict", "--strict", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.strict; }));
    add(make_option("server.send_zc_threshold", "--send-zc-threshold", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.send_zc_threshold; }));
    add(make_option("server.fixed_files", "--fixed-files", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.fixed_files; }));
    add(make_option("server.recv_buffers", "--recv-buffers", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.recv_buffers; },
                    Check<uint32_t>([](const uint32_t& n) -> std::string {
                      if (n == 0 || n > 32768 || (n & (n - 1)) != 0) {
                        return "must be a power of two, 1..32768";
                      }
                      return {};
                    })));
    // [site]: what the handlers read, swapped whole on SIGHUP.
    add(make_option("site.root", "--root", kOwn, R::live, "directory of the files served",
                    [](auto& c) -> auto& { return c.root; }, not_empty()));
    add(make_option("site.index", "--index", kOwn, R::live,
                    "file a directory answers with (a plain file name)",
                    [](auto& c) -> auto& { return c.index; }, not_empty()));
    add(make_option("site.gzip_siblings", "--gzip-siblings", kOwn, R::live,
                    "serve FILE.gz (Content-Encoding: gzip) to clients that accept gzip",
                    [](auto& c) -> auto& { return c.gzip_siblings; }));
    add(make_option("site.file_cache", "--file-cache", kOwn, R::live,
                    "open files kept in the open-file cache (0: no cache)",
                    [](auto& c) -> auto& { return c.file_cache; }));
    add(make_option("site.endpoints", "--endpoints", kOwn, R::live,
                    "serve /plaintext and /json (the TechEmpower endpoints)",
                    [](auto& c) -> auto& { return c.endpoints; }));
    // [http]: the protocol's options, fixed while it runs.
    add(make_option("http.server_name", "--server-name", kOwn, R::restart,
                    "the Server field of every response (empty: none)",
                    [](auto& c) -> auto& { return c.server_name; }, field_value()));
    add(make_option("http.header_timeout_ms", "--header-timeout-ms", kOwn, R::restart,
                    "a request's whole header block must arrive within this (408; 0: never)",
                    [](auto& c) -> auto& { return c.header_timeout_ms; }, at_least(0)));
    add(make_option("http.body_timeout_ms", "--body-timeout-ms", kOwn, R::restart,
                    "a request's whole body must arrive within this (408; 0: never)",
                    [](auto& c) -> auto& { return c.body_timeout_ms; }, at_least(0)));
    add(make_option("http.idle_timeout_ms", "--idle-timeout-ms", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.idle_timeout_ms; }, at_least(0)));
    add(make_option("http.write_timeout_ms", "--write-timeout-ms", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.write_timeout_ms; }, at_least(0)));
    add(make_option("http.max_request_line", "--max-request-line", kOwn, R::restart,
                    "longest request line (414)",
                    [](auto& c) -> auto& { return c.max_request_line; }, at_least<size_t>(16)));
    add(make_option("http.max_header_bytes", "--max-header-bytes", kOwn, R::restart,
                    "largest header block (431)",
                    [](auto& c) -> auto& { return c.max_header_bytes; }, at_least<size_t>(16)));
    add(make_option("http.max_headers", "--max-headers", kOwn, R::restart,
                    "most header fields in a request (431)",
                    [](auto& c) -> auto& { return c.max_headers; }, at_least<size_t>(1)));
    add(make_option("http.max_body", "--max-body", kOwn, R::restart,
                    "largest request body in bytes (413)",
                    [](auto& c) -> auto& { return c.max_body; }));
    add(make_option("http.max_requests", "--max-requests", kOwn, R::restart,
                    "requests served on one connection before it closes (0: no limit)",
                    [](auto& c) -> auto& { return c.max_requests; }));
    // [log]
    add(make_option("log.access", "--access-log", kOwn, R::live,
                    "append an access log (Combined Log Format) to this file (empty: off; "
                    "turning it on from off needs a restart)",
                    [](auto& c) -> auto& { return c.access_log; }));
    add(make_option("log.error", "--log-file", kShared, R::restart, "",
                    [](auto& c) -> auto& { return c.server.log_file; }));
    add(make_option("log.level", "--log-level", kOwn, R::live,
                    "error log level: debug|info|warn|error|off",
                    [](auto& c) -> auto& { return c.log_level; },
                    one_of(parse_log_level, "debug|info|warn|error|off")));
    return t;
  }();
  return table;
}

const Option* find_option(std::string_view key) {
  for (const Option& option : options()) {
    if (option.key == key) return &option;
  }
  return nullptr;
}

bool is_section(std::string_view name) {
  std::string prefix = std::string(name) + ".";
  for (const Option& option : options()) {
    if (option.key.starts_with(prefix)) return true;
  }
  return false;
}

std::string position(const std::string& path, const toml::source_region& where) {
  return path + ":" + std::to_string(where.begin.line) + ":" + std::to_string(where.begin.column);
}

// Reads every key of `table` (the file's root, or a [section] of it) into `config`.
std::optional<std::string> read_table(const std::string& path, const toml::table& table,
                                      const std::string& section, HttpdConfig& config) {
  for (auto&& [name, node] : table) {
    std::string key = section.empty() ? std::string(name.str())
                                      : section + "." + std::string(name.str());
    const toml::source_region& where = name.source().begin.line ? name.source() : node.source();
    if (section.empty() && is_section(key)) {
      if (!node.is_table()) {
        return position(path, where) + ": " + key + ": expected a [" + key + "] table";
      }
      if (auto error = read_table(path, *node.as_table(), key, config)) return error;
      continue;
    }
    const Option* option = find_option(key);
    if (option == nullptr) return position(path, where) + ": " + key + ": unknown key";
    std::string why = option->read(node, config);
    if (!why.empty()) return position(path, node.source()) + ": " + key + ": " + why;
  }
  return std::nullopt;
}

// The shared flags that configure the built-in framings, which HTTP replaces: not offered.
constexpr std::string_view kFramingFlags[] = {"--codec", "--max-message", "--read-timeout-ms"};

}  // namespace

std::optional<LogLevel> parse_log_level(std::string_view name) {
  if (name == "debug") return LogLevel::debug;
  if (name == "info") return LogLevel::info;
  if (name == "warn") return LogLevel::warn;
  if (name == "error") return LogLevel::error;
  if (name == "off") return LogLevel::off;
  return std::nullopt;
}

ServerFlags HttpdConfig::default_server_flags() {
  ServerFlags flags;
  flags.port = 8080;
  flags.idle_timeout_ms = 60'000;
  flags.write_timeout_ms = 30'000;
  return flags;
}

std::optional<std::string> read_config_file(const std::string& path, HttpdConfig& config) {
  toml::table file;
  try {
    file = toml::parse_file(path);
  } catch (const toml::parse_error& error) {
    return position(path, error.source()) + ": " + std::string(error.description());
  }
  return read_table(path, file, "", config);
}

http::ProtocolOptions protocol_options(const HttpdConfig& config, http::AccessLog* access_log) {
  http::ProtocolOptions options;
  options.limits.max_request_line = config.max_request_line;
  options.limits.max_header_bytes = config.max_header_bytes;
  options.limits.max_headers = config.max_headers;
  options.limits.max_body = config.max_body;
  options.header_timeout = std::chrono::milliseconds(config.header_timeout_ms);
  options.body_timeout = std::chrono::milliseconds(config.body_timeout_ms);
  options.idle_timeout = std::chrono::milliseconds(config.server.idle_timeout_ms);
  options.write_timeout = std::chrono::milliseconds(config.server.write_timeout_ms);
  options.max_requests = config.max_requests;
  options.server_name = config.server_name;
  options.access_log = access_log;
  return options;
}

http::StaticFilesOptions static_files_options(const HttpdConfig& config) {
  http::StaticFilesOptions options;
  options.root = config.root;
  options.index = config.index;
  options.gzip_siblings = config.gzip_siblings;
  options.cache_entries = config.file_cache;
  return options;
}

std::vector<std::string> restart_only_changes(const HttpdConfig& running,
                                              const HttpdConfig& loaded) {
  std::vector<std::string> keys;
  for (const Option& option : options()) {
    if (option.reload == Reload::restart && option.differs(running, loaded)) {
      keys.push_back(option.key);
    }
  }
  // Off at start, the protocol was built without an access log (nothing is copied per
  // request then): turning it on needs a restart.
  if (running.access_log.empty() && !loaded.access_log.empty()) keys.push_back("log.access");
  return keys;
}

HttpdConfig with_live_changes(const HttpdConfig& running, const HttpdConfig& loaded) {
  HttpdConfig next = running;
  for (const Option& option : options()) {
    if (option.reload == Reload::live) option.copy(loaded, next);
  }
  if (running.access_log.empty()) next.access_log.clear();
  return next;
}

HttpdCommandLine::HttpdCommandLine()
    : app_("tern-httpd: an HTTP/1.1 server built on tern (static files, /plaintext, /json)") {
  app_.add_option("--config", config_path_,
                  "TOML file with the options below (docs/httpd.md); flags override it; "
                  "SIGHUP rereads it");
  add_server_flags(app_, flags_.server);
  // The built-in framings' flags: HTTP replaces them (its limits and timeouts are below).
  for (std::string_view flag : kFramingFlags) {
    app_.remove_option(app_.get_option(std::string(flag)));
  }
  for (const Option& option : options()) {
    if (option.add_flag) option.add_flag(app_, flags_);
  }
}

std::optional<int> HttpdCommandLine::parse(int argc, char** argv) {
  try {
    app_.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app_.help().c_str());
    return 0;
  } catch (const CLI::ParseError& error) {
    std::fprintf(stderr, "tern-httpd: %s\nRun 'tern-httpd --help' for the options.\n",
                 error.what());
    return 2;
  }
  return std::nullopt;
}

std::optional<HttpdConfig> HttpdCommandLine::load(std::string& why) const {
  HttpdConfig config;
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
  // --reuse-port is a second spelling of --balance reuse-port.
  if (app_.count("--reuse-port") > 0) config.server.reuse_port = flags_.server.reuse_port;
  return config;
}

}  // namespace tern::apps
