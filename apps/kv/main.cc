// tern-kv: a key-value logic server: an HTTP API (PUT, GET, DELETE /kv/{key}, GET /kv?prefix=)
// over tern's storage unit, SQLite embedded in the process (the single-server form, the
// default) or a Redis server or cluster (the cluster form, behind tern-proxy), under every
// concurrency model with loops and every backend. docs/kv.md lists the options, the API and
// what each status means.
//
//   tern-kv                                           ./tern-kv.db on 127.0.0.1:9100
//   tern-kv --store redis://127.0.0.1:6390 --port 9101 --model loops --threads 2
#include "kv_app.h"
#include "kv_config.h"
#include "program_main.h"

int main(int argc, char** argv) {
  using namespace tern::apps;
  return run_program<KvApp, KvCommandLine>("tern-kv", argc, argv);
}
