#include "options.h"

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "tern/backend/backend_kind.h"

namespace tern::bench {

const char* to_string(Mode mode) noexcept {
  switch (mode) {
    case Mode::http: return "http";
    case Mode::echo: return "echo";
    case Mode::rr: return "rr";
    case Mode::idle: return "idle";
    case Mode::connrate: return "connrate";
    case Mode::redis: return "redis";
  }
  return "?";
}

namespace {

struct RawFlags {
  std::string cpu_list;
  std::string progress = "auto";
  std::string framing = "line";
  std::string body_file;
  std::string request_file;
  std::string redis_command = "set";
};

void add_common(CLI::App& app, BenchOptions& o, RawFlags& raw) {
  app.add_option("-c,--connections", o.connections, "connections in total over all threads")
      ->capture_default_str()->check(CLI::Range(1, 1'000'000));
  app.add_option("-d,--duration", o.duration_s,
                 "measured seconds (0 with --requests: until N are done)")
      ->capture_default_str()->check(CLI::Range(0.0, 86400.0));
  app.add_option("-w,--warmup", o.warmup_s, "seconds of the same load before measuring")
      ->capture_default_str()->check(CLI::Range(0.0, 86400.0));
  app.add_option("-n,--requests", o.requests,
                 "stop after exactly N replies in all (0: no count limit)")
      ->capture_default_str();
  app.add_option("-t,--threads", o.threads, "threads, one tern EventLoop each")
      ->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("--cpu", raw.cpu_list, "pin thread i to CPU LIST[i] (e.g. \"1\" or \"0,1\")");
  app.add_option("-R,--rate", o.rate,
                 "open loop: requests/s in total on a fixed schedule (0: closed loop)")
      ->capture_default_str()->check(CLI::Range(0.0, 1e9));
  app.add_option("--timeout", o.timeout_s,
                 "connect timeout and the longest wait for one reply (seconds)")
      ->capture_default_str()->check(CLI::Range(0.001, 3600.0));
  app.add_option("--backend", o.backend, "client loop backend: " +
                                             std::string(backend_kind_names()))
      ->capture_default_str()
      ->check([](const std::string& text) -> std::string {
        if (parse_backend_kind(text)) return {};
        return "'" + text + "' is not one of " + std::string(backend_kind_names());
      });
  app.add_option("--pid", o.pid, "the server under test: its CPU time (and RSS in idle mode)")
      ->check(CLI::PositiveNumber);
  app.add_flag("--json", o.json, "print one JSON document on stdout instead of text");
  app.add_option("--progress", raw.progress, "auto|always|never: a live line on stderr")
      ->capture_default_str()->check(CLI::IsMember({"auto", "always", "never"}));
  app.add_flag("--mark", o.mark,
               "print MARK measure-start / MARK measure-end on stderr at the interval's edges");
  app.add_option("TARGET", o.target_text, "http://HOST:PORT/path or HOST:PORT")->required();
}

void add_http_flags(CLI::App& app, BenchOptions& o, RawFlags& raw) {
  app.add_option("-m,--method", o.method, "request method")->capture_default_str();
  app.add_option("-H,--header", o.headers, "\"Name: value\" (repeatable)");
  app.add_option("--body", o.body, "request body");
  app.add_option("--body-file", raw.body_file, "request body from a file");
  app.add_option("--request-file", raw.request_file, "a whole raw request, sent as is");
}

void add_pipeline(CLI::App& app, BenchOptions& o) {
  app.add_option("-p,--pipeline", o.pipeline, "requests outstanding per connection")
      ->capture_default_str()->check(CLI::Range(1, 4096));
}

void add_size(CLI::App& app, BenchOptions& o, size_t default_size) {
  o.size = default_size;
  app.add_option("-s,--size", o.size, "bytes per block / request")
      ->capture_default_str()->check(CLI::Range(size_t{1}, size_t{64} << 20));
}

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream text;
  text << in.rdbuf();
  out = text.str();
  return true;
}

bool parse_cpu_list(const std::string& text, std::vector<int>& cpus) {
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty() || item.find_first_not_of("0123456789") != std::string::npos ||
        item.size() > 4) {
      return false;
    }
    cpus.push_back(std::stoi(item));
  }
  return !cpus.empty();
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "tern-bench: %s (run 'tern-bench --help')\n", message.c_str());
  return 2;
}

// What CLI11 cannot check: the target against the mode, files, combinations.
int finish(BenchOptions& o, RawFlags& raw) {
  std::string why;
  if (!parse_target(o.target_text, o.target, why)) return usage_error(why);
  if ((o.mode == Mode::http) && !o.target.is_http) {
    return usage_error("bad target '" + o.target_text + "': http mode needs http://HOST:PORT/path");
  }
  if ((o.mode == Mode::echo || o.mode == Mode::rr || o.mode == Mode::redis) && o.target.is_http) {
    return usage_error("bad target '" + o.target_text + "': " + to_string(o.mode) +
                       " mode needs HOST:PORT");
  }
  if (!raw.cpu_list.empty() && !parse_cpu_list(raw.cpu_list, o.cpus)) {
    return usage_error("bad --cpu '" + raw.cpu_list + "': expected a list like 1 or 0,1");
  }
  const long cpu_count = ::sysconf(_SC_NPROCESSORS_CONF);
  for (int cpu : o.cpus) {
    if (cpu >= cpu_count) {
      return usage_error("bad --cpu '" + raw.cpu_list + "': CPU " + std::to_string(cpu) +
                         " does not exist (CPUs 0.." + std::to_string(cpu_count - 1) + ")");
    }
  }
  o.progress = raw.progress == "always"  ? ProgressMode::always
               : raw.progress == "never" ? ProgressMode::never
                                         : ProgressMode::auto_;
  o.framing = raw.framing == "length" ? Framing::length : Framing::line;
  o.redis_command = raw.redis_command == "get" ? RedisCommand::get : RedisCommand::set;
  if (!raw.body_file.empty() && !read_file(raw.body_file, o.body)) {
    return usage_error("cannot read --body-file '" + raw.body_file + "'");
  }
  if (!raw.request_file.empty()) {
    if (!read_file(raw.request_file, o.request_file_bytes) || o.request_file_bytes.empty()) {
      return usage_error("cannot read --request-file '" + raw.request_file + "' (or it is empty)");
    }
  }
  if (o.duration_s == 0 && o.requests == 0 && o.mode != Mode::idle) {
    return usage_error("--duration 0 needs --requests N");
  }
  if (o.connections < o.threads) {
    return usage_error("--connections (" + std::to_string(o.connections) +
                       ") must be at least --threads (" + std::to_string(o.threads) + ")");
  }
  if (o.mode == Mode::rr && o.framing == Framing::line && o.size < 2) {
    return usage_error("--size must be at least 2 with --framing line");
  }
  if (o.stream && o.pipeline == 1) o.pipeline = 64;  // a deep window keeps the socket full
  for (const auto& header : o.headers) {
    if (header.find(':') == std::string::npos || header.find_first_of("\r\n") != std::string::npos) {
      return usage_error("bad --header '" + header + "': expected \"Name: value\"");
    }
  }
  return 0;
}

// The first argument, when it is not a flag, must be a mode: CLI11 alone would answer
// "A subcommand is required" without naming the word it did not know.
bool names_unknown_mode(int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return false;
  const std::string word = argv[1];
  for (Mode mode : {Mode::http, Mode::echo, Mode::rr, Mode::idle, Mode::connrate, Mode::redis}) {
    if (word == to_string(mode)) return false;
  }
  std::fprintf(stderr, "tern-bench: unknown mode '%s' (modes: http, echo, rr, idle, connrate, redis)\n",
               word.c_str());
  return true;
}

}  // namespace

int parse_command_line(int argc, char** argv, BenchOptions& o) {
  if (names_unknown_mode(argc, argv)) return 2;
  RawFlags raw;
  CLI::App app{"tern-bench: a load generator built on tern (http, echo, rr, idle, connrate, redis)"};
  app.require_subcommand(1, 1);
  app.set_help_all_flag("--help-all", "help for every mode");

  auto* http = app.add_subcommand("http", "keep-alive HTTP/1.1 load (TARGET http://HOST:PORT/path)");
  add_common(*http, o, raw);
  add_http_flags(*http, o, raw);
  add_pipeline(*http, o);

  auto* echo = app.add_subcommand("echo", "byte-checked echo blocks (TARGET HOST:PORT)");
  add_common(*echo, o, raw);
  add_size(*echo, o, 512);
  add_pipeline(*echo, o);
  echo->add_flag("--stream", o.stream, "keep the socket full (a deep window of blocks)");

  auto* rr = app.add_subcommand("rr", "framed request/response, checked byte for byte");
  add_common(*rr, o, raw);
  add_pipeline(*rr, o);
  rr->add_option("--framing", raw.framing, "line|length")
      ->capture_default_str()->check(CLI::IsMember({"line", "length"}));
  rr->add_option("-s,--size", o.size, "bytes per request [64]")
      ->check(CLI::Range(size_t{1}, size_t{64} << 20));

  auto* idle = app.add_subcommand("idle", "open N connections and hold them");
  add_common(*idle, o, raw);
  add_http_flags(*idle, o, raw);
  idle->add_flag("--request", o.send_request, "one request on each connection, response read");
  idle->add_option("--hold", o.hold_s, "seconds to hold (0: until SIGINT/SIGTERM)")
      ->capture_default_str()->check(CLI::Range(0.0, 86400.0));
  add_size(*idle, o, 512);

  auto* connrate = app.add_subcommand("connrate", "connect, one request, close, repeat");
  add_common(*connrate, o, raw);
  add_http_flags(*connrate, o, raw);
  add_size(*connrate, o, 512);

  auto* redis = app.add_subcommand("redis", "RESP commands to a Redis server (TARGET HOST:PORT)");
  add_common(*redis, o, raw);
  add_pipeline(*redis, o);
  redis->add_option("--command", raw.redis_command, "set (SET key value) or get (GET key)")
      ->capture_default_str()->check(CLI::IsMember({"set", "get"}));
  redis->add_option("--key", o.key, "the key")->capture_default_str()
      ->check(CLI::Validator([](std::string& key) -> std::string {
        return key.empty() ? "the key is empty" : "";
      }, "KEY"));
  redis->add_option("--value-size", o.value_size, "bytes of SET's value")
      ->capture_default_str()->check(CLI::Range(size_t{1}, size_t{64} << 20));

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app.help().c_str());
    return -1;
  } catch (const CLI::CallForAllHelp&) {
    std::printf("%s", app.help("", CLI::AppFormatMode::All).c_str());
    return -1;
  } catch (const CLI::ParseError& error) {
    std::string message = error.what();
    for (char& c : message) {
      if (c == '\n') c = ' ';
    }
    return usage_error(message);
  }
  if (http->parsed()) o.mode = Mode::http;
  else if (echo->parsed()) o.mode = Mode::echo;
  else if (rr->parsed()) {
    o.mode = Mode::rr;
    if (rr->count("--size") == 0) o.size = 64;
  } else if (idle->parsed()) o.mode = Mode::idle;
  else if (redis->parsed()) o.mode = Mode::redis;
  else o.mode = Mode::connrate;
  return finish(o, raw);
}

}  // namespace tern::bench
