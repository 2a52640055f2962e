// tern-httpd: an HTTP/1.1 server: static files from a root, /plaintext and /json, under every
// concurrency model and backend. Embedded defaults (127.0.0.1:8080, ./www): no config file
// needed. docs/httpd.md lists the options and the signals.
//
//   tern-httpd                                      ./www on 127.0.0.1:8080
//   tern-httpd --config httpd.toml --model loops --threads 2
#include "httpd.h"
#include "httpd_config.h"
#include "program_main.h"

int main(int argc, char** argv) {
  using namespace tern::apps;
  return run_program<Httpd, HttpdCommandLine>("tern-httpd", argc, argv);
}
