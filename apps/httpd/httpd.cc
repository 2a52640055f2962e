#include "httpd.h"

#include "httpd_routes.h"
#include "tern/http/loop_metrics.h"

namespace tern::apps {

std::unique_ptr<Httpd> Httpd::create(HttpdConfig config, std::string& why) {
  auto options = to_server_options(config.server, why);
  if (!options) return nullptr;
  auto site = open_site(config, why);
  if (!site) return nullptr;
  std::unique_ptr<Httpd> httpd(new Httpd(std::move(config), options.value(), std::move(site)));
  if (httpd->apply_logs(httpd->config_, why)) return nullptr;
  return httpd;
}

Httpd::Httpd(HttpdConfig config, ServerOptions options, std::shared_ptr<const Site> site)
    : config_(std::move(config)), options_(std::move(options)), site_(std::move(site)) {}

Httpd::~Httpd() {
  admin_.reset();
  server_.reset();
}

std::shared_ptr<const Site> Httpd::open_site(const HttpdConfig& config, std::string& why) {
  auto files = http::StaticFiles::open(static_files_options(config));
  if (!files) {
    why = "site.root '" + config.root + "' (index '" + config.index +
          "'): " + files.error().message();
    return nullptr;
  }
  return std::make_shared<const Site>(Site{std::move(files).value(), config.endpoints});
}

std::error_code Httpd::apply_logs(const HttpdConfig& config, std::string& why) {
  if (server_ == nullptr && !config.server.log_file.empty()) {
    if (auto error = set_log_file(config.server.log_file.c_str())) {
      why = "log.error '" + config.server.log_file + "': " + error.message();
      return error;
    }
  }
  // The protocol has an access log only if the config had one at start
  // (restart_only_changes says so when a reload asks for one).
  bool had_access_log = server_ == nullptr || !config_.access_log.empty();
  if (config.access_log.empty()) {
    access_log_.disable();
  } else if (had_access_log && config.access_log != access_log_.path()) {
    if (auto error = access_log_.open(config.access_log)) {
      why = "log.access '" + config.access_log + "': " + error.message();
      return error;
    }
  } else if (had_access_log) {
    access_log_.enable();
  }
  // Checked when the config was read.
  set_log_level(parse_log_level(config.log_level).value_or(LogLevel::info));
  return {};
}

std::error_code Httpd::start(std::string& why) {
  http::AccessLog* access_log = config_.access_log.empty() ? nullptr : &access_log_;
  ServerOptions options = options_;
  // Metrics cost a little per request: they are kept only when something can read them.
  bool admin = !config_.server.admin.empty();
  if (admin) {
    options.metrics = &registry_;
    http::record_metrics(options, registry_);
  }
  server_ = std::make_unique<Server>(
      options, http::service(httpd_router(site_), protocol_options(config_, access_log)));
  if (auto error = server_->start()) {
    why = "cannot listen on " + options_.address.to_string() + " (backend " +
          config_.server.backend + "): " + error.message();
    if (!server_->error_detail().empty()) why += ": " + server_->error_detail();
    return error;
  }
  if (admin) {
    auto started = AdminServer::start_from(config_.server.admin, "tern-httpd", registry_, why);
    if (!started) {
      shutdown();
      return started.error();
    }
    admin_ = std::move(started).value();
  }
  return {};
}

std::string Httpd::describe_admin() const {
  return admin_ ? "admin on " + admin_->local_address().to_string() : std::string();
}

std::string Httpd::describe() const {
  std::string line =
      apps::describe(server_->options(), server_->local_address(), server_->backend_in_use());
  // The shared line names the built-in framing, which HTTP replaces.
  if (size_t codec = line.rfind(", codec "); codec != std::string::npos) {
    line.replace(codec, line.size() - codec, ", protocol http/1.1)");
  }
  return line;
}

std::error_code Httpd::reload(const HttpdCommandLine& command_line) {
  std::string why;
  auto loaded = command_line.load(why);
  std::shared_ptr<const Site> site;
  if (loaded) site = open_site(*loaded, why);
  if (!loaded || !site) {
    log(LogLevel::error, "SIGHUP: %s; the configuration stays as it was", why.c_str());
    return make_error_code(errc::invalid_argument);
  }
  // The logs first: they are the one part that can still fail (and change nothing then).
  if (apply_logs(*loaded, why)) {
    log(LogLevel::error, "SIGHUP: %s; the configuration stays as it was", why.c_str());
    return make_error_code(errc::invalid_argument);
  }
  site_.publish(std::move(site));
  for (const std::string& key : restart_only_changes(config_, *loaded)) {
    log(LogLevel::warn, "SIGHUP: %s changed: it needs a restart, ignored", key.c_str());
  }
  config_ = with_live_changes(config_, *loaded);
  log(LogLevel::info, "SIGHUP: serving %s (endpoints %s)", config_.root.c_str(),
      config_.endpoints ? "on" : "off");
  return {};
}

std::error_code Httpd::reopen_logs() {
  std::error_code first = reopen_log_file();
  if (auto error = access_log_.reopen(); error && !first) first = error;
  return first;
}

void Httpd::shutdown() {
  if (admin_) admin_->shutdown();
  if (server_) server_->shutdown(std::chrono::milliseconds(config_.server.drain_ms));
}

}  // namespace tern::apps
