// PeerOptions: the command line every echo peer of `make bench` shares, and the
// two things each peer does the same way so that only the library differs: the
// heap settings tern-echo uses, and the "listening" line the orchestrator waits
// for.
//
//   libevent-echo --host 127.0.0.1 --port 9000
//   libuv-echo --host 127.0.0.1 --port 9000 [--naive]
//
// --port 0 lets the kernel pick a port; the line printed names the port
// actually bound. Thread rule: main thread, before the peer's loop starts.
#pragma once

#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

namespace tern::bench {

struct PeerOptions {
  std::string host = "127.0.0.1";
  int port = 0;
  bool naive = false;  // libuv-echo only: the documentation's example as written
  bool help = false;   // --help: the usage is printed; the caller exits 0
};

// The options, or nullopt after printing a one-line error naming the bad
// argument (the caller exits 2). `accepts_naive`: whether --naive is a flag of
// this peer. --help prints the usage on stdout and sets `help` (the
// orchestrator reads it to find the peers' flags).
inline std::optional<PeerOptions> parse_peer_options(int argc, char **argv, const char *name,
                                                     bool accepts_naive) {
  PeerOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    bool has_value = i + 1 < argc;
    if (flag == "--host" && has_value) {
      options.host = argv[++i];
    } else if (flag == "--port" && has_value) {
      char *end = nullptr;
      long port = std::strtol(argv[++i], &end, 10);
      if (*argv[i] == '\0' || *end != '\0' || port < 0 || port > 65535) {
        std::fprintf(stderr, "%s: bad --port '%s' (0..65535)\n", name, argv[i]);
        return std::nullopt;
      }
      options.port = static_cast<int>(port);
    } else if (flag == "--naive" && accepts_naive) {
      options.naive = true;
    } else if (flag == "--help" || flag == "-h") {
      std::printf(
          "usage: %s --host ADDRESS --port PORT%s\n"
          "  --host ADDRESS  IPv4 address to listen on [127.0.0.1]\n"
          "  --port PORT     TCP port; 0: one the kernel picks [0]\n%s"
          "Prints \"%s: listening on ADDRESS:PORT\" once accepting; "
          "SIGTERM or SIGINT: "
          "exit 0.\n",
          name, accepts_naive ? " [--naive]" : "",
          accepts_naive ? "  --naive         malloc 64 KiB per read, "
                          "glibc's default heap\n"
                        : "",
          name);
      options.help = true;
      return options;
    } else {
      std::fprintf(stderr, "%s: bad argument '%s'; usage: %s --host ADDRESS --port PORT%s\n", name,
                   flag.c_str(), name, accepts_naive ? " [--naive]" : "");
      return std::nullopt;
    }
  }
  return options;
}

// The heap settings of apps/echo/main.cc: glibc keeps freed memory instead of
// giving it back after each burst (trim threshold 128 KiB by default) and
// paying page faults on the next, so a peer measures its library and not
// glibc's trimming.
inline void keep_heap() {
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_TOP_PAD, 16 << 20);
}

// The line the orchestrator (and bench_peers_test) waits for, flushed at once:
// stdout is a pipe.
inline void announce_listening(const char *name, const std::string &host, int port) {
  std::printf("%s: listening on %s:%d\n", name, host.c_str(), port);
  std::fflush(stdout);
}

}  // namespace tern::bench
