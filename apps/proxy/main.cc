// tern-proxy: the access server: HTTP (requests re-framed and balanced one by one over
// persistent upstream pools) or TCP (bytes relayed) load balancing, with active and passive
// health checks, retries within a budget, draining and reload. docs/proxy.md lists the options,
// the admin API and the signals.
//
//   tern-proxy --listen 127.0.0.1:8080 --upstream 127.0.0.1:8081 --upstream 127.0.0.1:8082
//   tern-proxy --config tern-proxy.toml --model loops --threads 2 --admin 127.0.0.1:9901
#include "proxy_app.h"
#include "proxy_config.h"
#include "program_main.h"

int main(int argc, char** argv) {
  using namespace tern::apps;
  return run_program<ProxyApp, ProxyCommandLine>("tern-proxy", argc, argv);
}
