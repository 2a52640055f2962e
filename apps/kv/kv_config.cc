#include "kv_config.h"

#include <string_view>
#include <utility>

#include "config_command_line_impl.h"
#include "config_options.h"
#include "server_rows.h"

namespace tern::apps {
namespace {

using Option = ConfigOption<KvConfig>;

// The storage URL's scheme is checked here, so that a typo in the file names its line; the
// rest (the path opens, the hosts parse) is open_storage's to say.
Check<std::string> storage_url() {
  return [](const std::string& url) -> std::string {
    std::string_view text = url;
    if (text.starts_with("sqlite:") && text.size() > 7) return {};
    if (text.starts_with("redis://") && text.size() > 8) return {};
    if (text.starts_with("redis-cluster://") && text.size() > 16) return {};
    return "'" + url + "' is not sqlite:PATH, redis://HOST:PORT or redis-cluster://HOST:PORT,...";
  };
}

// The shared rows tern-kv offers (server_rows.h): not the uring tuning (left to the programs
// that are measured with it), not lf (each loop keeps its own Store, from on_loop_start: lf has
// no loops).
const ServerRows& server_rows() {
  static const ServerRows rows{
      .uring_tuning = false,
      .model = [](const std::string& name) -> std::string {
        auto model = parse_model(name);
        if (model && *model != Model::lf) return {};
        return "'" + name + "' is not one of single|loops|hsha (lf has no loops for a store)";
      },
  };
  return rows;
}

// Every option of tern-kv, in the order --help and docs/kv.md list them.
const std::vector<Option>& options() {
  static const std::vector<Option> table = [] {
    std::vector<Option> t;
    using R = Reload;
    using C = KvConfig;
    // add(key, flag, shared or own flag, reload rule, help, field, check): make_option's.
    auto add = [&](auto&&... option) {
      t.push_back(make_option<C>(std::forward<decltype(option)>(option)...));
    };
    // [store]: the storage unit behind every loop (tern/store/store.h).
    add("store.url", "--store", kOwnFlag, R::restart,
        "storage: sqlite:PATH (relative to the working directory), redis://HOST:PORT or "
        "redis-cluster://HOST:PORT,HOST:PORT,...",
        [](auto& c) -> auto& { return c.store; }, storage_url());
    add("store.durability", "--durability", kOwnFlag, R::restart,
        "sqlite: full (a 2xx means fsynced) or normal (written to the WAL, fsynced at "
        "checkpoints)",
        [](auto& c) -> auto& { return c.durability; },
        one_of(store::parse_durability, "full|normal"));
    add("store.cache_mb", "--cache-mb", kOwnFlag, R::restart,
        "MiB of an LRU cache of values in front of the storage (0: none)",
        [](auto& c) -> auto& { return c.cache_mb; }, in_range<size_t>(0, 1 << 20));
    add("store.max_value", "--max-value", kOwnFlag, R::restart,
        "largest value in bytes: a larger PUT body gets 413",
        [](auto& c) -> auto& { return c.max_value; }, in_range<size_t>(1, size_t{1} << 30));
    add("store.deadline_ms", "--store-deadline-ms", kOwnFlag, R::restart,
        "a storage operation not done within this gets 503",
        [](auto& c) -> auto& { return c.store_deadline_ms; }, at_least(1));
    add("store.queue", "--store-queue", kOwnFlag, R::restart,
        "storage requests queued (sqlite: in all; redis: commands sent, per loop); a request "
        "that finds it full waits for room, its connection paused",
        [](auto& c) -> auto& { return c.store_queue; }, at_least<size_t>(1));
    add("store.redis_password", "--redis-password", kOwnFlag, R::restart,
        "redis: AUTH with this password on every new connection (empty: none)",
        [](auto& c) -> auto& { return c.redis_password; });
    add("store.redis_database", "--redis-database", kOwnFlag, R::restart,
        "redis:// (not a cluster): SELECT this database",
        [](auto& c) -> auto& { return c.redis_database; }, in_range(0, 65535));
    // [http]
    add("http.header_timeout_ms", "--header-timeout-ms", kOwnFlag, R::restart,
        "a request's whole header block must arrive within this (408; 0: never)",
        [](auto& c) -> auto& { return c.header_timeout_ms; }, at_least(0));
    add("http.body_timeout_ms", "--body-timeout-ms", kOwnFlag, R::restart,
        "a request's whole body must arrive within this (408; 0: never)",
        [](auto& c) -> auto& { return c.body_timeout_ms; }, at_least(0));
    // [server], the connection timeouts in [http], log.error and log.level: the shared rows.
    add_server_rows(t, server_rows());
    return t;
  }();
  return table;
}

}  // namespace

ServerFlags KvConfig::default_server_flags() {
  ServerFlags flags;
  flags.port = 9100;
  flags.idle_timeout_ms = 60'000;
  flags.write_timeout_ms = 30'000;
  return flags;
}

std::optional<std::string> read_config_file(const std::string& path, KvConfig& config) {
  return read_sectioned_file(path, options(), config);
}

store::StorageConfig storage_config(const KvConfig& config) {
  store::StorageConfig storage;
  storage.url = config.store;
  storage.durability = store::parse_durability(config.durability).value_or(store::Durability::full);
  storage.cache_bytes = config.cache_mb << 20;
  storage.queue_capacity = config.store_queue;
  // A request that meets a full queue is held (its connection sends nothing more meanwhile)
  // until the storage has room, or fails at its deadline: backpressure, not refusals.
  storage.wait_for_room = true;
  storage.deadline = std::chrono::milliseconds(config.store_deadline_ms);
  storage.limits.max_value = config.max_value;
  storage.redis_password = config.redis_password;
  storage.redis_database = config.redis_database;
  return storage;
}

http::ProtocolOptions protocol_options(const KvConfig& config) {
  http::ProtocolOptions options;
  // A larger body is refused by the protocol (413, then the connection closes) before it is
  // read into memory.
  options.limits.max_body = config.max_value;
  options.header_timeout = std::chrono::milliseconds(config.header_timeout_ms);
  options.body_timeout = std::chrono::milliseconds(config.body_timeout_ms);
  options.idle_timeout = std::chrono::milliseconds(config.server.idle_timeout_ms);
  options.write_timeout = std::chrono::milliseconds(config.server.write_timeout_ms);
  return options;
}

LogLevel configured_log_level(const KvConfig& config) {
  return parse_log_level(config.log_level).value_or(LogLevel::info);  // checked when read
}

std::vector<std::string> restart_only_changes(const KvConfig& running, const KvConfig& loaded) {
  return restart_only_keys(options(), running, loaded);
}

KvConfig with_live_changes(const KvConfig& running, const KvConfig& loaded) {
  return with_live_options(options(), running, loaded);
}

template class ConfigCommandLine<KvConfig>;

KvCommandLine::KvCommandLine()
    : ConfigCommandLine({
          .program = "tern-kv",
          .description = "tern-kv: a key-value logic server over HTTP on tern's storage unit "
                         "(SQLite embedded, or Redis)",
          .config_help = "TOML file with the options below (docs/kv.md); flags override it; "
                         "SIGHUP rereads it (the log level is applied, other changes need a "
                         "restart)",
          .options = &options(),
          .server_rows = &server_rows(),
          .read_file = &read_config_file,
      }) {}

}  // namespace tern::apps
