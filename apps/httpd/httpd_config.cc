#include "httpd_config.h"

#include <string_view>
#include <utility>

#include "config_command_line_impl.h"
#include "config_options.h"
#include "server_rows.h"

namespace tern::apps {
namespace {

using Option = ConfigOption<HttpdConfig>;

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

// The shared rows tern-httpd offers (server_rows.h): all of them.
const ServerRows& server_rows() {
  static const ServerRows rows{};
  return rows;
}

// Every option of tern-httpd, in the order --help and docs/httpd.md list them.
const std::vector<Option>& options() {
  static const std::vector<Option> table = [] {
    std::vector<Option> t;
    using R = Reload;
    using C = HttpdConfig;
    // add(key, flag, shared or own flag, reload rule, help, field, check): make_option's.
    auto add = [&](auto&&... option) {
      t.push_back(make_option<C>(std::forward<decltype(option)>(option)...));
    };
    // [site]: what the handlers read, swapped whole on SIGHUP.
    add("site.root", "--root", kOwnFlag, R::live, "directory of the files served",
        [](auto& c) -> auto& { return c.root; }, not_empty());
    add("site.index", "--index", kOwnFlag, R::live,
        "file a directory answers with (a plain file name)",
        [](auto& c) -> auto& { return c.index; }, not_empty());
    add("site.gzip_siblings", "--gzip-siblings", kOwnFlag, R::live,
        "serve FILE.gz (Content-Encoding: gzip) to clients that accept gzip",
        [](auto& c) -> auto& { return c.gzip_siblings; });
    add("site.file_cache", "--file-cache", kOwnFlag, R::live,
        "open files kept in the open-file cache (0: no cache)",
        [](auto& c) -> auto& { return c.file_cache; });
    add("site.endpoints", "--endpoints", kOwnFlag, R::live,
        "serve /plaintext and /json (the TechEmpower endpoints)",
        [](auto& c) -> auto& { return c.endpoints; });
    // [http]: the protocol's options, fixed while it runs.
    add("http.server_name", "--server-name", kOwnFlag, R::restart,
        "the Server field of every response (empty: none)",
        [](auto& c) -> auto& { return c.server_name; }, field_value());
    add("http.header_timeout_ms", "--header-timeout-ms", kOwnFlag, R::restart,
        "a request's whole header block must arrive within this (408; 0: never)",
        [](auto& c) -> auto& { return c.header_timeout_ms; }, at_least(0));
    add("http.body_timeout_ms", "--body-timeout-ms", kOwnFlag, R::restart,
        "a request's whole body must arrive within this (408; 0: never)",
        [](auto& c) -> auto& { return c.body_timeout_ms; }, at_least(0));
    add("http.max_request_line", "--max-request-line", kOwnFlag, R::restart,
        "longest request line (414)",
        [](auto& c) -> auto& { return c.max_request_line; }, at_least<size_t>(16));
    add("http.max_header_bytes", "--max-header-bytes", kOwnFlag, R::restart,
        "largest header block (431)",
        [](auto& c) -> auto& { return c.max_header_bytes; }, at_least<size_t>(16));
    add("http.max_headers", "--max-headers", kOwnFlag, R::restart,
        "most header fields in a request (431)",
        [](auto& c) -> auto& { return c.max_headers; }, at_least<size_t>(1));
    add("http.max_body", "--max-body", kOwnFlag, R::restart,
        "largest request body in bytes (413)",
        [](auto& c) -> auto& { return c.max_body; });
    add("http.max_requests", "--max-requests", kOwnFlag, R::restart,
        "requests served on one connection before it closes (0: no limit)",
        [](auto& c) -> auto& { return c.max_requests; });
    // [log]
    add("log.access", "--access-log", kOwnFlag, R::live,
        "append an access log (Combined Log Format) to this file (empty: off; "
        "turning it on from off needs a restart)",
        [](auto& c) -> auto& { return c.access_log; });
    // [server], the connection timeouts in [http], log.error and log.level: the shared rows.
    add_server_rows(t, server_rows());
    return t;
  }();
  return table;
}

}  // namespace

ServerFlags HttpdConfig::default_server_flags() {
  ServerFlags flags;
  flags.port = 8080;
  flags.idle_timeout_ms = 60'000;
  flags.write_timeout_ms = 30'000;
  return flags;
}

std::optional<std::string> read_config_file(const std::string& path, HttpdConfig& config) {
  return read_sectioned_file(path, options(), config);
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
  std::vector<std::string> keys = restart_only_keys(options(), running, loaded);
  // Off at start, the protocol was built without an access log (nothing is copied per
  // request then): turning it on needs a restart.
  if (running.access_log.empty() && !loaded.access_log.empty()) keys.push_back("log.access");
  return keys;
}

HttpdConfig with_live_changes(const HttpdConfig& running, const HttpdConfig& loaded) {
  HttpdConfig next = with_live_options(options(), running, loaded);
  if (running.access_log.empty()) next.access_log.clear();
  return next;
}

template class ConfigCommandLine<HttpdConfig>;

HttpdCommandLine::HttpdCommandLine()
    : ConfigCommandLine({
          .program = "tern-httpd",
          .description =
              "tern-httpd: an HTTP/1.1 server built on tern (static files, /plaintext, /json)",
          .config_help = "TOML file with the options below (docs/httpd.md); flags override it; "
                         "SIGHUP rereads it",
          .options = &options(),
          .server_rows = &server_rows(),
          .read_file = &read_config_file,
      }) {}

}  // namespace tern::apps
