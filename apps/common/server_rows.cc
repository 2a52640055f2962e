#include "server_rows.h"

#include <CLI/CLI.hpp>

#include <algorithm>

namespace tern::apps {

std::string server_row_key(KeyLayout layout, std::string_view section, std::string_view name,
                           std::string_view log_name) {
  if (layout == KeyLayout::by_topic) {
    std::string_view own = section == "log" && !log_name.empty() ? log_name : name;
    return std::string(section) + "." + std::string(own);
  }
  std::string kebab(name);
  std::replace(kebab.begin(), kebab.end(), '_', '-');
  return "server." + kebab;
}

void add_server_flags(CLI::App& app, ServerFlags& flags, const ServerRows& rows) {
  add_server_flags(app, flags);
  if (rows.admin) {
    app.add_option("--admin", flags.admin,
                   "admin listener (GET /metrics, /metrics.json, /status), HOST:PORT on loopback "
                   "(empty: off)")
        ->check(admin_address_problem);
  }
  std::vector<std::string> dropped = {"--codec", "--max-message", "--read-timeout-ms"};
  if (!rows.listen_address) dropped.insert(dropped.end(), {"--host", "--port", "--balance"});
  if (!rows.uring_tuning) {
    dropped.insert(dropped.end(), {"--send-zc-threshold", "--recv-buffers", "--fixed-files"});
  }
  for (const std::string& flag : dropped) app.remove_option(app.get_option(flag));
}

}  // namespace tern::apps
