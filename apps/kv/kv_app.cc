#include "kv_app.h"

#include <algorithm>
#include <utility>

#include "kv_routes.h"
#include "tern/base/error.h"
#include "tern/base/logging.h"
#include "tern/http/loop_metrics.h"
#include "tern/http/router.h"
#include "tern/loop/event_loop.h"
#include "tern/store/store_metrics.h"

namespace tern::apps {
namespace {

// The loops a model serves on: single has one, loops and hsha `threads` (lf is refused when
// the config is read: it has no loops to keep a Store on).
size_t loop_count(const ServerOptions& options) {
  return options.model == Model::single ? 1 : static_cast<size_t>(std::max(options.threads, 1));
}

}  // namespace

std::unique_ptr<KvApp> KvApp::create(KvConfig config, std::string& why) {
  auto options = to_server_options(config.server, why);
  if (!options) return nullptr;
  if (!config.server.log_file.empty()) {
    if (auto error = set_log_file(config.server.log_file.c_str())) {
      why = "log.error '" + config.server.log_file + "': " + error.message();
      return nullptr;
    }
  }
  set_log_level(configured_log_level(config));
  std::string storage_why;
  auto storage = store::open_storage(storage_config(config), storage_why);
  if (!storage) {
    why = "store.url '" + config.store + "': " + storage_why;
    return nullptr;
  }
  return std::unique_ptr<KvApp>(
      new KvApp(std::move(config), std::move(options).value(), std::move(storage)));
}

KvApp::KvApp(KvConfig config, ServerOptions options, std::unique_ptr<store::Storage> storage)
    : config_(std::move(config)), options_(std::move(options)), storage_(std::move(storage)) {}

KvApp::~KvApp() { shutdown(); }

std::error_code KvApp::start(std::string& why) {
  ServerOptions options = options_;
  stores_.resize(loop_count(options));
  store_sources_.resize(stores_.size());
  // Each loop's Store is attached and destroyed on its own thread; the vector's slots are
  // distinct per loop and sized before any thread starts.
  options.on_loop_start = [this](size_t index, EventLoop& loop) {
    if (index >= stores_.size()) return make_error_code(errc::invalid_argument);
    stores_[index] = storage_->attach(loop);
    if (!stores_[index]) return make_error_code(errc::invalid_argument);
    set_loop_store(stores_[index].get());
    add_store_metrics(index, loop);
    return std::error_code();
  };
  options.on_loop_stop = [this](size_t index, EventLoop&) {
    remove_store_metrics(index);
    set_loop_store(nullptr);
    if (index < stores_.size()) stores_[index].reset();
  };
  // Metrics cost a little per request: they are kept only when something can read them.
  bool admin = !config_.server.admin.empty();
  if (admin) {
    options.metrics = &registry_;
    http::record_metrics(options, registry_);
    add_storage_metrics();
  }
  KvRoutesOptions routes;
  routes.max_key = storage_config(config_).limits.max_key;
  server_ = std::make_unique<Server>(options,
                                     http::service(kv_router(routes), protocol_options(config_)));
  if (auto error = server_->start()) {
    why = "cannot listen on " + options.address.to_string() + " (backend " +
          config_.server.backend + "): " + error.message();
    if (!server_->error_detail().empty()) why += ": " + server_->error_detail();
    server_.reset();
    return error;
  }
  if (admin) {
    auto started = AdminServer::start_from(config_.server.admin, "tern-kv", registry_, why);
    if (!started) {
      shutdown();
      return started.error();
    }
    admin_ = std::move(started).value();
  }
  return {};
}

void KvApp::add_storage_metrics() {
  storage_source_ = registry_.add_source(
      [storage = storage_.get()](metrics::Snapshot& snapshot) { storage->fill_metrics(snapshot); });
}

// The Store's counters, read on its own loop at each scrape (plain integers only that loop
// writes). tern_kv_read_pauses_total: requests held because the storage queue was full, each
// one a connection that sends nothing more until its answer.
void KvApp::add_store_metrics(size_t index, EventLoop& loop) {
  if (!storage_source_ || index >= store_sources_.size()) return;
  store_sources_[index] = registry_.add_loop_source(
      loop.handle(), [store = stores_[index].get()](metrics::Snapshot& snapshot) {
        store::StoreStats stats = store->stats();
        store::fill_store_metrics(stats, snapshot);
        snapshot.add_counter("tern_kv_read_pauses_total",
                             "Requests held (their connection paused) because the storage "
                             "queue was full.",
                             {}, static_cast<double>(stats.room_waits));
      });
}

// On the loop's own thread, before its Store goes: no fill of it runs after this.
void KvApp::remove_store_metrics(size_t index) {
  if (index >= store_sources_.size() || !store_sources_[index]) return;
  registry_.remove(*std::exchange(store_sources_[index], std::nullopt));
}

std::string KvApp::describe_admin() const {
  return admin_ ? "admin on " + admin_->local_address().to_string() : std::string();
}

std::string KvApp::describe() const {
  if (!server_) return "not serving";
  std::string line =
      apps::describe(server_->options(), server_->local_address(), server_->backend_in_use());
  // The shared line names the built-in framing, which HTTP replaces; the storage goes first.
  if (size_t codec = line.rfind(", codec "); codec != std::string::npos) {
    line.replace(codec, line.size() - codec, ", protocol http/1.1)");
  }
  if (size_t open = line.find(" ("); open != std::string::npos) {
    line.insert(open + 2, "store " + storage_->describe() + ", ");
  }
  return line;
}

std::error_code KvApp::reload(const KvCommandLine& command_line) {
  std::string why;
  auto loaded = command_line.load(why);
  if (!loaded) {
    log(LogLevel::error, "SIGHUP: %s; the configuration stays as it was", why.c_str());
    return make_error_code(errc::invalid_argument);
  }
  for (const std::string& key : restart_only_changes(config_, *loaded)) {
    log(LogLevel::warn, "SIGHUP: %s changed: it needs a restart, ignored", key.c_str());
  }
  config_ = with_live_changes(config_, *loaded);
  set_log_level(configured_log_level(config_));
  log(LogLevel::info, "SIGHUP: log level %s", config_.log_level.c_str());
  return {};
}

void KvApp::shutdown() {
  if (admin_) {
    admin_->shutdown();
    admin_.reset();
  }
  if (server_) {
    // Joins every loop: on_loop_stop has destroyed each Store on its own thread by then.
    server_->shutdown(std::chrono::milliseconds(config_.server.drain_ms));
    server_.reset();
  }
  stores_.clear();
  if (storage_source_) registry_.remove(*std::exchange(storage_source_, std::nullopt));
  // The sqlite thread finishes the writes still queued before it stops.
  storage_.reset();
}

}  // namespace tern::apps
