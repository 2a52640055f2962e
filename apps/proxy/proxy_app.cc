#include "proxy_app.h"

#include <condition_variable>
#include <mutex>

#include "admin_api.h"
#include "admin_server.h"
#include "proxy_metrics.h"
#include "tern/http/loop_metrics.h"
#include "tern/base/error.h"
#include "tern/base/logging.h"
#include "health_monitor.h"
#include "tern/http/router.h"
#include "tern/loop/loop_group.h"
#include "tern/net/tcp_server.h"

namespace tern::apps {

// One tcp-mode loop: its listener and its proxy (destroyed in that order's reverse: the proxy's
// relays hold the server's connections).
struct ProxyApp::TcpLoop {
  std::unique_ptr<TcpServer> server;
  std::unique_ptr<proxy::TcpProxy> proxy;
  TimerId drain_check;
};

namespace {

// The loops a model serves on: single has one, the others `threads`.
size_t loop_count(const ServerOptions& options) {
  return options.model == Model::single ? 1 : static_cast<size_t>(std::max(options.threads, 1));
}

http::ProtocolOptions protocol_options(const ProxyConfig& config) {
  http::ProtocolOptions options;
  options.idle_timeout = std::chrono::milliseconds(config.server.idle_timeout_ms);
  options.write_timeout = std::chrono::milliseconds(config.server.write_timeout_ms);
  // The upstream's Server field passes through; the proxy adds only Via.
  options.server_name.clear();
  // Expect: 100-continue when no upstream could take the request: 503 before the body.
  options.accepts_body = proxy::loop_accepts_body;
  // Large and chunked request bodies go to the upstream as they arrive, up to this in all.
  options.stream_body = proxy::relays_request_body;
  options.limits.max_body = config.max_request_body;
  return options;
}

std::string upstream_names(const std::vector<proxy::UpstreamConfig>& upstreams) {
  std::string names;
  for (const auto& upstream : upstreams) {
    if (!names.empty()) names += ", ";
    names += upstream.name;
    if (upstream.weight != 1) names += " (weight " + std::to_string(upstream.weight) + ")";
  }
  return names;
}

}  // namespace

std::unique_ptr<ProxyApp> ProxyApp::create(ProxyConfig config, std::string& why) {
  auto settings = resolve(config, why);
  if (!settings) return nullptr;
  if (!config.server.log_file.empty()) {
    if (auto error = set_log_file(config.server.log_file.c_str())) {
      why = "server.log-file '" + config.server.log_file + "': " + error.message();
      return nullptr;
    }
  }
  set_log_level(configured_log_level(config));
  return std::unique_ptr<ProxyApp>(new ProxyApp(std::move(config), std::move(*settings)));
}

ProxyApp::ProxyApp(ProxyConfig config, ProxySettings settings)
    : config_(std::move(config)),
      settings_(std::move(settings)),
      loops_(loop_count(settings_.server)),
      metrics_sources_(loop_count(settings_.server), 0) {}

ProxyApp::~ProxyApp() { shutdown(); }

std::error_code ProxyApp::start(std::string& why) {
  auto error = settings_.mode == proxy::Mode::http ? start_http(why) : start_tcp(why);
  // Health after the serving loops: a verdict is posted to the loops attached at the time, so
  // every loop must be there to hear the first one.
  if (!error) error = start_health(why);
  if (!error && settings_.admin) error = start_admin(why);
  if (error) shutdown();
  return error;
}

std::error_code ProxyApp::start_admin(std::string& why) {
  admin_ = std::make_unique<AdminServer>(*settings_.admin, "tern-proxy", registry_);
  add_upstream_routes(admin_->router(), loops_, settings_.mode, settings_.http.balance);
  return admin_->start(why);
}

void ProxyApp::add_metrics_source(size_t index, EventLoop& loop) {
  if (!settings_.admin || index >= metrics_sources_.size()) return;
  // The first loop also says which upstreams are up (proxy_metrics.h).
  bool with_up = index == 0;
  metrics_sources_[index] = registry_.add_loop_source(
      loop.handle(), [with_up](metrics::Snapshot& snapshot) {
        fill_proxy_metrics(loop_report(), with_up, snapshot);
      });
}

void ProxyApp::remove_metrics_source(size_t index) {
  if (!settings_.admin || index >= metrics_sources_.size()) return;
  registry_.remove(metrics_sources_[index]);
}

std::error_code ProxyApp::start_health(std::string& why) {
  health_group_ = std::make_unique<LoopGroup>();
  LoopGroupOptions options;
  options.backend = BackendKind::epoll;  // a few connections a second: any backend will do
  options.name = "tern-health";
  auto error = health_group_->start(
      options,
      [this](size_t, EventLoop& loop) {
        monitor_ = std::make_unique<HealthMonitor>(
            loop, [this](const std::string& name, bool healthy) { on_verdict(name, healthy); });
        monitor_->reconcile(settings_.upstreams, settings_.health);
        return std::error_code();
      },
      [this](size_t, EventLoop&) { monitor_.reset(); });
  if (error) why = "cannot start the health loop: " + error.message();
  return error;
}

void ProxyApp::on_verdict(const std::string& name, bool healthy) {
  log(healthy ? LogLevel::info : LogLevel::warn, "upstream %s is %s (active check)",
      name.c_str(), healthy ? "up" : "down");
  loops_.post_all([name, healthy] {
    if (proxy::UpstreamTable* table = loop_upstream_table()) table->set_healthy(name, healthy);
  });
}

std::error_code ProxyApp::start_http(std::string& why) {
  ServerOptions options = settings_.server;
  http_proxies_.resize(loop_count(options));
  // Each loop's proxy is built and destroyed on its own thread; the vector's slots are
  // distinct per loop and sized before any thread starts.
  options.on_loop_start = [this](size_t index, EventLoop& loop) {
    if (index >= http_proxies_.size()) return make_error_code(errc::invalid_argument);
    http_proxies_[index] =
        std::make_unique<proxy::HttpProxy>(loop, settings_.http, settings_.upstreams);
    proxy::set_loop_proxy(http_proxies_[index].get());
    loops_.attach(index, loop.handle());
    add_metrics_source(index, loop);
    return std::error_code();
  };
  options.on_loop_stop = [this](size_t index, EventLoop&) {
    remove_metrics_source(index);
    loops_.detach(index);
    proxy::set_loop_proxy(nullptr);
    if (index < http_proxies_.size()) http_proxies_[index].reset();
  };
  if (settings_.admin) {
    options.metrics = &registry_;
    http::record_metrics(options, registry_);
  }
  server_ = std::make_unique<Server>(
      options, http::service(proxy::proxy_handler(), protocol_options(config_)));
  if (auto error = server_->start()) {
    why = "cannot listen on " + settings_.listen.to_string() + " (backend " +
          config_.server.backend + "): " + error.message();
    if (!server_->error_detail().empty()) why += ": " + server_->error_detail();
    return error;
  }
  return {};
}

std::error_code ProxyApp::start_tcp(std::string& why) {
  size_t count = loop_count(settings_.server);
  tcp_loops_.resize(count);
  tcp_group_ = std::make_unique<LoopGroup>();
  LoopGroupOptions options;
  options.backend = settings_.server.backend;
  options.backend_options = settings_.server.backend_options;
  options.threads = static_cast<int>(count);
  options.name = "tern-proxy";
  std::string setup_error;
  // The loops are set up one after the other: loop 0 binds first (port 0 becomes a real
  // port), the others bind that same port with SO_REUSEPORT.
  auto error = tcp_group_->start(
      options,
      [this, count, &setup_error](size_t index, EventLoop& loop) {
        auto entry = std::make_unique<TcpLoop>();
        TcpServerOptions server_options;
        server_options.listen.reuse_port = count > 1;
        InetAddress address = index == 0 ? settings_.listen : tcp_bound_;
        entry->server = std::make_unique<TcpServer>(loop, address, server_options);
        entry->proxy =
            std::make_unique<proxy::TcpProxy>(loop, settings_.tcp, settings_.upstreams);
        proxy::TcpProxy* proxy = entry->proxy.get();
        entry->server->on_connection([proxy](TcpConnection& client) { proxy->serve(client); });
        if (auto listen_error = entry->server->start()) {
          setup_error = "cannot listen on " + address.to_string() + ": " + listen_error.message();
          entry->proxy.reset();
          return listen_error;
        }
        if (index == 0) tcp_bound_ = entry->server->local_address();
        set_loop_tcp_proxy(proxy);
        loops_.attach(index, loop.handle());
        add_metrics_source(index, loop);
        tcp_loops_[index] = std::move(entry);
        return std::error_code();
      },
      [this](size_t index, EventLoop&) {
        remove_metrics_source(index);
        loops_.detach(index);
        set_loop_tcp_proxy(nullptr);
        if (index < tcp_loops_.size() && tcp_loops_[index]) {
          tcp_loops_[index]->proxy.reset();  // aborts its relays, which use the connections
          tcp_loops_[index]->server.reset();
          tcp_loops_[index].reset();
        }
      });
  if (error) {
    why = setup_error.empty() ? "cannot start the loops: " + error.message() : setup_error;
    tcp_group_.reset();
  }
  return error;
}

std::string ProxyApp::describe() const {
  const ServerOptions& options = settings_.server;
  std::string line = "listening on ";
  std::string backend;
  if (server_) {
    line += server_->local_address().to_string();
    backend = to_string(server_->backend_in_use());
  } else {
    line += tcp_bound_.to_string();
    backend = tcp_group_ ? to_string(tcp_group_->loop(0).backend_kind()) : "?";
  }
  line += std::string(" (mode ") + proxy::mode_name(settings_.mode) + ", balance " +
          proxy::algorithm_name(settings_.http.balance) + ", upstreams " +
          std::to_string(settings_.upstreams.size()) + ", backend " + backend + ", model " +
          model_name(options.model);
  if (server_) line += std::string(", pattern ") + pattern_name(effective_pattern(options));
  line += ", threads " + std::to_string(loop_count(options));
  if (options.model == Model::hsha) line += ", workers " + std::to_string(options.workers);
  line += ", health " + std::string(settings_.health ? (settings_.mode == proxy::Mode::tcp
                                                             ? "tcp"
                                                             : "http " + settings_.health->path)
                                                       : "passive") +
          ")";
  return line;
}

std::string ProxyApp::describe_admin() const {
  return admin_ ? "admin on " + admin_->local_address().to_string() : std::string();
}

std::error_code ProxyApp::reload(const ProxyCommandLine& command_line) {
  std::string why;
  auto loaded = command_line.load(why);
  if (!loaded) {
    log(LogLevel::error, "SIGHUP: %s; the configuration stays as it was", why.c_str());
    return make_error_code(errc::invalid_argument);
  }
  for (const std::string& key : restart_only_changes(config_, *loaded)) {
    log(LogLevel::warn, "SIGHUP: %s changed: it needs a restart, ignored", key.c_str());
  }
  ProxyConfig next = with_live_changes(config_, *loaded);
  auto settings = resolve(next, why);
  if (!settings) {  // cannot happen: load() resolved the whole file, and the shape is kept
    log(LogLevel::error, "SIGHUP: %s; the configuration stays as it was", why.c_str());
    return make_error_code(errc::invalid_argument);
  }
  config_ = std::move(next);
  settings_.upstreams = settings->upstreams;
  settings_.health = settings->health;
  settings_.http.balance = settings->http.balance;
  settings_.tcp.balance = settings->tcp.balance;
  set_log_level(configured_log_level(config_));
  apply_balancing(settings_);
  log(LogLevel::info, "SIGHUP: upstreams %s; balance %s; health %s",
      upstream_names(settings_.upstreams).c_str(), proxy::algorithm_name(settings_.http.balance),
      settings_.health ? "checks on" : "passive only");
  return {};
}

void ProxyApp::apply_balancing(const ProxySettings& settings) {
  auto upstreams = settings.upstreams;
  proxy::Algorithm balance = settings.http.balance;  // tcp's is the same
  loops_.post_all([upstreams, balance] {
    proxy::UpstreamTable* table = loop_upstream_table();
    if (table == nullptr) return;
    table->set_algorithm(balance);
    table->apply(upstreams);
  });
  if (health_group_) {
    auto health = settings.health;
    health_group_->post(0, [this, upstreams, health] {
      if (monitor_) monitor_->reconcile(upstreams, health);
    });
  }
}

void ProxyApp::drain_tcp() {
  // Shared with the loops' tasks: one may still count down after the wait gave up.
  struct Latch {
    std::mutex mutex;
    std::condition_variable done;
    size_t remaining = 0;
  };
  auto latch = std::make_shared<Latch>();
  latch->remaining = tcp_group_->size();
  auto deadline = Clock::now() + std::chrono::milliseconds(settings_.drain_ms);
  auto count_down = [latch] {
    std::lock_guard lock(latch->mutex);
    if (--latch->remaining == 0) latch->done.notify_all();
  };
  for (size_t i = 0; i < tcp_group_->size(); ++i) {
    tcp_group_->post(i, [this, i, deadline, count_down] {
      TcpLoop* entry = i < tcp_loops_.size() ? tcp_loops_[i].get() : nullptr;
      if (entry == nullptr) {
        count_down();
        return;
      }
      // Relays end by themselves (both sides closed); what is still open at the deadline is
      // closed by the drain. Checked on a short timer: a relay's end has no hook here.
      entry->server->stop_accepting();
      EventLoop& loop = tcp_group_->loop(i);
      entry->drain_check = loop.run_every(std::chrono::milliseconds(20), [this, i, deadline,
                                                                          count_down, &loop] {
        TcpLoop* self = tcp_loops_[i].get();
        if (self->server->connection_count() > 0 && Clock::now() < deadline) return;
        loop.cancel(self->drain_check);
        self->server->drain(Duration::zero(), count_down);
      });
    });
  }
  std::unique_lock lock(latch->mutex);
  auto give_up = Clock::now() + std::chrono::milliseconds(settings_.drain_ms) +
                 std::chrono::seconds(5);  // a loop that never answers: stop() closes all
  latch->done.wait_until(lock, give_up, [&] { return latch->remaining == 0; });
}

void ProxyApp::shutdown() {
  if (health_group_) {
    health_group_->stop();
    health_group_.reset();
  }
  if (admin_) {
    admin_->shutdown();
    admin_.reset();
  }
  if (server_) {
    server_->shutdown(std::chrono::milliseconds(settings_.drain_ms));
    server_.reset();
  }
  if (tcp_group_) {
    drain_tcp();
    tcp_group_->stop();
    tcp_group_.reset();
  }
}

}  // namespace tern::apps
