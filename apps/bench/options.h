// The options of one tern-bench run, and the command line that fills them (CLI11, one
// subcommand per mode). The flags and their defaults are the contract of
// /work/notes/s16/spec.md section 2: other tools (make bench, the tests) rely on their names.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "target.h"

namespace tern::bench {

enum class Mode { http, echo, rr, idle, connrate, redis };
const char* to_string(Mode mode) noexcept;

enum class Framing { line, length };
enum class RedisCommand { set, get };
enum class ProgressMode { auto_, always, never };

struct BenchOptions {
  Mode mode = Mode::http;
  std::string target_text;
  Target target;

  int connections = 10;
  double duration_s = 10;
  double warmup_s = 0;
  uint64_t requests = 0;       // 0: no count limit
  int threads = 1;
  std::vector<int> cpus;       // thread i runs on cpus[i % size]
  double rate = 0;             // 0: closed loop
  double timeout_s = 5;
  std::string backend = "epoll";
  int pid = 0;
  bool json = false;
  ProgressMode progress = ProgressMode::auto_;
  bool mark = false;

  // http
  std::string method = "GET";
  std::vector<std::string> headers;
  std::string body;
  std::string request_file_bytes;  // --request-file: the whole raw request
  int pipeline = 1;

  // echo, rr, connrate (HOST:PORT)
  size_t size = 512;
  bool stream = false;
  Framing framing = Framing::line;

  // redis (HOST:PORT): SET key value or GET key
  RedisCommand redis_command = RedisCommand::set;
  std::string key = "key:tern-bench";
  size_t value_size = 3;  // redis-benchmark's default (-d 3)

  // idle
  bool send_request = false;
  double hold_s = 0;  // 0: until SIGINT/SIGTERM
};

// Parses argv. On success returns 0 and fills `out`; --help prints the help and returns -1
// (exit 0); bad usage prints one line naming the flag or target and returns 2.
int parse_command_line(int argc, char** argv, BenchOptions& out);

}  // namespace tern::bench
