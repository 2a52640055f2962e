#include "proxy_options.h"

#include <string>
#include <utility>

namespace tern::apps {
namespace {

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

constexpr int kMaxMs = 24 * 3600 * 1000;  // a day: larger is surely a typo

}  // namespace

const ServerRows& proxy_server_rows() {
  static const ServerRows rows{
      .layout = KeyLayout::server_section,
      .listen_address = false,
      .admin = false,  // its own row: proxy.admin, --admin
      .model = one_of(parse_model, "single|loops|hsha"),  // lf: refused by resolve(), saying why
      .max_threads = 1024,
      .max_ms = kMaxMs,
  };
  return rows;
}

const std::vector<ConfigOption<ProxyConfig>>& proxy_options() {
  static const std::vector<ConfigOption<ProxyConfig>> table = [] {
    std::vector<ConfigOption<ProxyConfig>> t;
    using R = Reload;
    using C = ProxyConfig;
    // add(key, flag, shared or own flag, reload rule, help, field, check): make_option's.
    auto add = [&](auto&&... option) {
      t.push_back(make_option<C>(std::forward<decltype(option)>(option)...));
    };
    // [proxy]
    add("proxy.listen", "--listen", kOwnFlag, R::restart,
        "address clients connect to: HOST:PORT (port 0: any free port)",
        [](auto& c) -> auto& { return c.listen; }, host_port(false));
    add("proxy.mode", "--mode", kOwnFlag, R::restart,
        "http (requests re-framed and balanced one by one) or tcp (bytes relayed)",
        [](auto& c) -> auto& { return c.mode; },
        one_of(proxy::parse_mode, "http|tcp"));
    add("proxy.balance", "--balance", kOwnFlag, R::live,
        "round-robin|least-outstanding|p2c|maglev",
        [](auto& c) -> auto& { return c.balance; },
        one_of(proxy::parse_algorithm, "round-robin|least-outstanding|p2c|maglev"));
    add("proxy.hash-key", "--hash-key", kOwnFlag, R::restart,
        "maglev's key: client|header:NAME|cookie:NAME|path (tcp: always client)",
        [](auto& c) -> auto& { return c.hash_key; },
        one_of(proxy::parse_hash_key, "client|header:NAME|cookie:NAME|path"));
    add("proxy.admin", "--admin", kOwnFlag, R::restart,
        "admin API listener, HOST:PORT on loopback (empty: off)",
        [](auto& c) -> auto& { return c.admin; }, host_port(true));
    add("proxy.upstream-max-connections", "--upstream-max-connections", kOwnFlag,
        R::restart, "connections to one upstream from one loop (busy or idle)",
        [](auto& c) -> auto& { return c.upstream_max_connections; },
        in_range<size_t>(1, 1 << 20));
    add("proxy.upstream-idle-timeout-ms", "--upstream-idle-timeout-ms", kOwnFlag,
        R::restart, "close an idle upstream connection after this long (0: never)",
        [](auto& c) -> auto& { return c.upstream_idle_timeout_ms; },
        in_range(0, kMaxMs));
    add("proxy.connect-timeout-ms", "--connect-timeout-ms", kOwnFlag, R::restart,
        "one connect to an upstream",
        [](auto& c) -> auto& { return c.connect_timeout_ms; }, in_range(1, kMaxMs));
    add("proxy.queue-timeout-ms", "--queue-timeout-ms", kOwnFlag, R::restart,
        "a request waiting for an upstream connection (all busy) gets 503 after this",
        [](auto& c) -> auto& { return c.queue_timeout_ms; }, in_range(1, kMaxMs));
    add("proxy.max-queued", "--max-queued", kOwnFlag, R::restart,
        "requests that may wait for a connection to one upstream per loop (0: none)",
        [](auto& c) -> auto& { return c.max_queued; }, in_range<size_t>(0, 1 << 20));
    add("proxy.response-timeout-ms", "--response-timeout-ms", kOwnFlag, R::restart,
        "a whole upstream response (504 past it)",
        [](auto& c) -> auto& { return c.response_timeout_ms; },
        in_range(1, kMaxMs));
    add("proxy.max-attempts", "--max-attempts", kOwnFlag, R::restart,
        "tries of one request in all, the first included (1: never retry)",
        [](auto& c) -> auto& { return c.max_attempts; }, in_range(1, 10));
    add("proxy.retry-budget", "--retry-budget", kOwnFlag, R::restart,
        "retries earned per request (0..1): over time retries stay within this share",
        [](auto& c) -> auto& { return c.retry_budget; }, in_range(0.0, 1.0));
    add("proxy.eject-after", "--eject-after", kOwnFlag, R::restart,
        "failures in a row (connect, reset, timeout, 5xx) that eject an upstream "
        "(0: never)",
        [](auto& c) -> auto& { return c.eject_after; }, in_range(0, 1000));
    add("proxy.eject-base-ms", "--eject-base-ms", kOwnFlag, R::restart,
        "the first ejection's length; each one in a row doubles it",
        [](auto& c) -> auto& { return c.eject_base_ms; }, in_range(1, kMaxMs));
    add("proxy.eject-max-ms", "--eject-max-ms", kOwnFlag, R::restart,
        "the longest ejection",
        [](auto& c) -> auto& { return c.eject_max_ms; }, in_range(1, kMaxMs));
    add("proxy.slow-start-ms", "--slow-start-ms", kOwnFlag, R::restart,
        "a re-admitted upstream's weight ramps from 10% to 100% over this (0: none)",
        [](auto& c) -> auto& { return c.slow_start_ms; }, in_range(0, kMaxMs));
    add("proxy.max-response-body", "--max-response-body", kOwnFlag, R::restart,
        "largest response body gathered whole (held in memory per request), in bytes; "
        "larger ones, and chunked ones, are streamed at the client's pace",
        [](auto& c) -> auto& { return c.max_response_body; },
        in_range<size_t>(0, size_t{1} << 40));
    add("proxy.max-request-body", "--max-request-body", kOwnFlag, R::restart,
        "largest request body accepted, in bytes (413 beyond); bodies over 64 KiB, and "
        "chunked ones, are relayed to the upstream as they arrive, at its pace",
        [](auto& c) -> auto& { return c.max_request_body; },
        in_range<uint64_t>(0, uint64_t{1} << 50));
    // [health]: live (the checkers are rebuilt on SIGHUP).
    add("health.path", "--health-path", kOwnFlag, R::live,
        "http mode: active checks GET this path (2xx/3xx healthy; empty: passive "
        "checks only); tcp mode checks by connecting",
        [](auto& c) -> auto& { return c.health_path; }, health_path());
    add("health.interval-ms", "--health-interval-ms", kOwnFlag, R::live,
        "time between two checks of one upstream",
        [](auto& c) -> auto& { return c.health_interval_ms; }, in_range(1, kMaxMs));
    add("health.timeout-ms", "--health-timeout-ms", kOwnFlag, R::live,
        "one check: connect and whole response",
        [](auto& c) -> auto& { return c.health_timeout_ms; }, in_range(1, kMaxMs));
    add("health.rise", "--health-rise", kOwnFlag, R::live,
        "checks passed in a row that bring a down upstream up",
        [](auto& c) -> auto& { return c.health_rise; }, in_range(1, 1000));
    add("health.fall", "--health-fall", kOwnFlag, R::live,
        "checks failed in a row that take an up upstream down",
        [](auto& c) -> auto& { return c.health_fall; }, in_range(1, 1000));
    // [server]: the shared rows, every one under [server] (server.log-level among them).
    add_server_rows(t, proxy_server_rows());
    return t;
  }();
  return table;
}

}  // namespace tern::apps
