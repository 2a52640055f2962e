// tern-proxy's configuration: the TOML file, the flags over it, the checks and what they say
// (file:line:column and the key), the resolved options, what SIGHUP may change, and the exit
// status of the real binary for bad input. The running proxy is tests/tern_proxy_test.cc's.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "child_process.h"
#include "proxy_config.h"
#include "temp_dir.h"

#ifndef TERN_PROXY_PATH
#error "TERN_PROXY_PATH must name the tern-proxy binary"
#endif

namespace {

using namespace std::chrono_literals;
using tern::apps::ProxyCommandLine;
using tern::apps::ProxyConfig;
using tern::apps::ProxySettings;
using tern::test::CommandResult;
using tern::test::run_command;
using tern::test::TempDir;
using tern::test::write_file;

constexpr auto kExitTimeout = 30s;


// Parses `args` and loads: the config, or the error line in `why`.
std::optional<ProxyConfig> load(const std::vector<std::string>& args, std::string& why) {
  ProxyCommandLine command_line;
  if (auto status = command_line.parse(args)) {
    why = "parse stopped with status " + std::to_string(*status);
    return std::nullopt;
  }
  return command_line.load(why);
}

// Parses, loads and resolves `args`: the settings, or the error line in `why`.
std::optional<ProxySettings> load_settings(const std::vector<std::string>& args,
                                           std::string& why) {
  auto config = load(args, why);
  return config ? tern::apps::resolve(*config, why) : std::nullopt;
}

// The error line loading `file_text` (as a --config file, with `flags` after) gives.
std::string load_error(const TempDir& dir, std::string_view file_text,
                       std::vector<std::string> flags = {}) {
  std::string path = dir / "proxy.toml";
  write_file(path, file_text);
  flags.insert(flags.begin(), {"--config", path});
  std::string why;
  auto config = load(flags, why);
  return config ? std::string("(loaded)") : why;
}

constexpr std::string_view kMinimal =
    "[proxy]\nlisten = \"127.0.0.1:0\"\n\n[[upstream]]\naddress = \"127.0.0.1:8081\"\n";

// ---------------------------------------------------------------------------------------------
// The file

TEST(TernProxyConfigTest, ExampleFileLoads) {
  std::string why;
  auto settings = load_settings({"--config", TERN_PROXY_EXAMPLE_CONFIG}, why);
  ASSERT_TRUE(settings) << why;
  EXPECT_EQ(settings->listen.to_string(), "127.0.0.1:8080");
  ASSERT_EQ(settings->upstreams.size(), 2u);
  EXPECT_EQ(settings->upstreams[0].name, "127.0.0.1:8081");
  EXPECT_EQ(settings->upstreams[1].name, "127.0.0.1:8082");
  EXPECT_EQ(settings->upstreams[1].weight, 2u);
  ASSERT_TRUE(settings->admin);
  EXPECT_EQ(settings->admin->to_string(), "127.0.0.1:9901");
  ASSERT_TRUE(settings->health);
  EXPECT_EQ(settings->health->path, "/health");
}

TEST(TernProxyConfigTest, EveryKeyOfTheFileReachesItsOption) {
  TempDir dir;
  std::string path = dir / "proxy.toml";
  write_file(path,
             "[proxy]\nlisten = \"[::1]:0\"\nmode = \"http\"\nbalance = \"maglev\"\n"
             "hash-key = \"cookie:session\"\nadmin = \"127.0.0.1:0\"\n"
             "upstream-max-connections = 7\nupstream-idle-timeout-ms = 1234\n"
             "connect-timeout-ms = 250\nqueue-timeout-ms = 300\nmax-queued = 9\n"
             "response-timeout-ms = 4000\nmax-attempts = 3\nretry-budget = 0.5\n"
             "eject-after = 4\neject-base-ms = 100\neject-max-ms = 800\nslow-start-ms = 0\n"
             "max-response-body = 65536\n"
             "[[upstream]]\naddress = \"127.0.0.1:8081\"\nweight = 5\n"
             "[[upstream]]\naddress = \"localhost:8082\"\n"
             "[health]\npath = \"/ready\"\ninterval-ms = 500\ntimeout-ms = 200\nrise = 4\n"
             "fall = 6\n"
             "[server]\nmodel = \"loops\"\nthreads = 3\ndrain-ms = 700\n");
  std::string why;
  auto s = load_settings({"--config", path}, why);
  ASSERT_TRUE(s) << why;
  EXPECT_EQ(s->listen.to_string(), "[::1]:0");
  EXPECT_EQ(s->http.balance, tern::proxy::Algorithm::maglev);
  EXPECT_EQ(s->http.hash_key.kind, tern::proxy::HashKey::Kind::cookie);
  EXPECT_EQ(s->http.hash_key.name, "session");
  EXPECT_EQ(s->http.pool.max_connections, 7u);
  EXPECT_EQ(s->http.pool.idle_timeout, 1234ms);
  EXPECT_EQ(s->http.pool.connect.timeout, 250ms);
  EXPECT_EQ(s->http.pool.wait_timeout, 300ms);
  EXPECT_EQ(s->http.pool.max_waiters, 9u);
  EXPECT_EQ(s->http.response_timeout, 4000ms);
  EXPECT_EQ(s->http.retry.max_attempts, 3);
  EXPECT_DOUBLE_EQ(s->http.retry.budget_ratio, 0.5);
  EXPECT_EQ(s->http.ejection.consecutive_failures, 4);
  EXPECT_EQ(s->http.ejection.base_time, 100ms);
  EXPECT_EQ(s->http.ejection.max_time, 800ms);
  EXPECT_EQ(s->http.ejection.slow_start, 0ms);
  EXPECT_EQ(s->http.max_response_body, 65536u);
  EXPECT_EQ(s->tcp.pool.max_connections, 7u);
  ASSERT_EQ(s->upstreams.size(), 2u);
  EXPECT_EQ(s->upstreams[0].weight, 5u);
  EXPECT_EQ(s->upstreams[1].name, "localhost:8082");
  ASSERT_TRUE(s->health);
  EXPECT_EQ(s->health->kind, tern::proxy::HealthCheckOptions::Kind::http);
  EXPECT_EQ(s->health->path, "/ready");
  EXPECT_EQ(s->health->interval, 500ms);
  EXPECT_EQ(s->health->timeout, 200ms);
  EXPECT_EQ(s->health->rise, 4);
  EXPECT_EQ(s->health->fall, 6);
  EXPECT_EQ(s->server.model, tern::Model::loops);
  EXPECT_EQ(s->server.threads, 3);
  EXPECT_EQ(s->drain_ms, 700);
}

TEST(TernProxyConfigTest, UnderscoreSpellingOfAKeyIsAccepted) {
  TempDir dir;
  std::string why;
  std::string path = dir / "proxy.toml";
  write_file(path,
             "[proxy]\nlisten = \"127.0.0.1:0\"\nhash_key = \"path\"\nmax_attempts = 1\n"
             "[[upstream]]\naddress = \"127.0.0.1:8081\"\n");
  auto config = load({"--config", path}, why);
  ASSERT_TRUE(config) << why;
  EXPECT_EQ(config->hash_key, "path");
  EXPECT_EQ(config->max_attempts, 1);
}

TEST(TernProxyConfigTest, UnknownKeyNamesFileLineAndKey) {
  TempDir dir;
  std::string path = dir / "proxy.toml";
  EXPECT_EQ(load_error(dir, "[proxy]\nlisten = \"127.0.0.1:0\"\nbalanse = \"p2c\"\n"),
            path + ":3:1: proxy.balanse: unknown key");
  EXPECT_EQ(load_error(dir, std::string(kMinimal) + "[health]\nintervall-ms = 5\n"),
            path + ":7:1: health.intervall-ms: unknown key");
  EXPECT_EQ(load_error(dir, std::string(kMinimal) + "weight = 2\nport = 1\n"),
            path + ":7:1: upstream.port: unknown key");
  EXPECT_EQ(load_error(dir, "[proxi]\nlisten = \"127.0.0.1:0\"\n").rfind(
                path + ":1:2: proxi: unknown key", 0),
            0u);
}

TEST(TernProxyConfigTest, BadValueNamesFileLineAndKey) {
  TempDir dir;
  std::string path = dir / "proxy.toml";
  std::string error =
      load_error(dir, "[proxy]\nlisten = \"127.0.0.1:0\"\nbalance = \"random\"\n");
  EXPECT_EQ(error.rfind(path + ":3:11: proxy.balance: 'random' is not one of", 0), 0u) << error;
  error = load_error(dir, "[proxy]\nlisten = \"127.0.0.1:0\"\nmax-attempts = 0\n");
  EXPECT_EQ(error, path + ":3:16: proxy.max-attempts: must be in 1..10");
  error = load_error(dir, "[proxy]\nlisten = \"127.0.0.1:0\"\nretry-budget = \"lots\"\n");
  EXPECT_EQ(error, path + ":3:16: proxy.retry-budget: expected a number");
  error = load_error(dir, "[proxy]\nlisten = \"127.0.0.1\"\n");
  EXPECT_EQ(error.rfind(path + ":2:10: proxy.listen: '127.0.0.1' is not HOST:PORT", 0), 0u)
      << error;
  error = load_error(dir, std::string(kMinimal) + "[server]\nthreads = -1\n");
  EXPECT_EQ(error.rfind(path + ":7:11: server.threads: must be in 1..", 0), 0u) << error;
  error = load_error(dir, std::string(kMinimal) + "[health]\npath = \"health\"\n");
  EXPECT_EQ(error.rfind(path + ":7:8: health.path: 'health' must start with '/'", 0), 0u)
      << error;
}

TEST(TernProxyConfigTest, BadUpstreamTableNamesItsLine) {
  TempDir dir;
  std::string path = dir / "proxy.toml";
  std::string head = "[proxy]\nlisten = \"127.0.0.1:0\"\n";
  std::string error = load_error(dir, head + "[[upstream]]\naddress = \"127.0.0.1\"\n");
  EXPECT_EQ(error.rfind(path + ":3:1: upstream '127.0.0.1': ", 0), 0u) << error;
  error = load_error(dir, head + "[[upstream]]\naddress = \"127.0.0.1:1\"\n\n"
                                 "[[upstream]]\naddress = \"127.0.0.1:2\"\nweight = 0\n");
  EXPECT_EQ(error.rfind(path + ":6:1: upstream '127.0.0.1:2': bad weight", 0), 0u) << error;
  error = load_error(dir, head + "[[upstream]]\nweight = 2\n");
  EXPECT_EQ(error, path + ":3:1: upstream.address: missing");
  error = load_error(dir, head + "[[upstream]]\naddress = 8081\n");
  EXPECT_EQ(error, path + ":4:11: upstream.address: expected a string");
}

TEST(TernProxyConfigTest, SyntaxErrorNamesItsLine) {
  TempDir dir;
  std::string path = dir / "proxy.toml";
  std::string error = load_error(dir, "[proxy]\nlisten = \"127.0.0.1:0\n");
  EXPECT_EQ(error.rfind(path + ":2:", 0), 0u) << error;
}

// ---------------------------------------------------------------------------------------------
// Flags and the whole

TEST(TernProxyConfigTest, FlagsOverrideTheFile) {
  TempDir dir;
  std::string path = dir / "proxy.toml";
  write_file(path,
             "[proxy]\nlisten = \"127.0.0.1:1\"\nbalance = \"maglev\"\nmax-attempts = 3\n"
             "[[upstream]]\naddress = \"127.0.0.1:8081\"\n[[upstream]]\n"
             "address = \"127.0.0.1:8082\"\n[health]\npath = \"/health\"\n");
  std::string why;
  auto config = load({"--config", path, "--listen", "127.0.0.1:0", "--balance", "p2c",
                      "--upstream", "127.0.0.1:9000,weight=4", "--health-path", ""},
                     why);
  ASSERT_TRUE(config) << why;
  EXPECT_EQ(config->listen, "127.0.0.1:0");
  EXPECT_EQ(config->balance, "p2c");
  EXPECT_EQ(config->max_attempts, 3);  // not given as a flag: the file's
  ASSERT_EQ(config->upstreams.size(), 1u);  // --upstream replaces the file's list whole
  EXPECT_EQ(config->upstreams[0], "127.0.0.1:9000,weight=4");
  EXPECT_EQ(config->health_path, "");
  auto settings = tern::apps::resolve(*config, why);
  ASSERT_TRUE(settings) << why;
  EXPECT_FALSE(settings->health);  // http mode without a path: passive checks only
}

TEST(TernProxyConfigTest, BadFlagValueNamesTheFlag) {
  std::string why;
  EXPECT_FALSE(load({"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--balance",
                     "fastest"},
                    why));
  EXPECT_EQ(why.rfind("--balance: 'fastest' is not one of", 0), 0u) << why;
  EXPECT_FALSE(load({"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1,weight=0"}, why));
  EXPECT_EQ(why.rfind("upstream '127.0.0.1:1': bad weight", 0), 0u) << why;
}

TEST(TernProxyConfigTest, TheWholeIsChecked) {
  std::string why;
  EXPECT_FALSE(load({"--upstream", "127.0.0.1:1"}, why));
  EXPECT_EQ(why.rfind("no listen address", 0), 0u) << why;
  EXPECT_FALSE(load({"--listen", "127.0.0.1:0"}, why));
  EXPECT_EQ(why.rfind("no upstream", 0), 0u) << why;
  EXPECT_FALSE(load({"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--upstream",
                     "127.0.0.1:1,weight=2"},
                    why));
  EXPECT_EQ(why, "upstream '127.0.0.1:1' is listed twice");
  EXPECT_FALSE(load({"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--admin",
                     "0.0.0.0:9901"},
                    why));
  EXPECT_NE(why.find("must be a loopback address"), std::string::npos) << why;
  EXPECT_FALSE(load({"--listen", "127.0.0.1:9000", "--upstream", "127.0.0.1:1", "--admin",
                     "127.0.0.1:9000"},
                    why));
  EXPECT_NE(why.find("must not be the listen address"), std::string::npos) << why;
  EXPECT_FALSE(
      load({"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--model", "lf"}, why));
  EXPECT_NE(why.find("--model lf is not served"), std::string::npos) << why;
  EXPECT_FALSE(load({"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--mode", "tcp",
                     "--model", "hsha", "--workers", "2"},
                    why));
  EXPECT_NE(why.find("--mode tcp runs under --model single or loops"), std::string::npos) << why;
  EXPECT_FALSE(load({"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--eject-base-ms",
                     "5000", "--eject-max-ms", "1000"},
                    why));
  EXPECT_NE(why.find("must not exceed proxy.eject-max-ms"), std::string::npos) << why;
  // The shared check of the model's combination, cut to its first line.
  EXPECT_FALSE(load({"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--threads", "2"},
                    why));
  EXPECT_EQ(why, "--model single runs one loop and no workers (use loops or hsha)");
}

TEST(TernProxyConfigTest, TcpModeAlwaysChecksByConnecting) {
  std::string why;
  auto settings =
      load_settings({"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--mode", "tcp"}, why);
  ASSERT_TRUE(settings) << why;
  EXPECT_EQ(settings->mode, tern::proxy::Mode::tcp);
  ASSERT_TRUE(settings->health);
  EXPECT_EQ(settings->health->kind, tern::proxy::HealthCheckOptions::Kind::tcp);
}

// What SIGHUP applies live and what it logs as needing a restart.
TEST(TernProxyConfigTest, ReloadAppliesUpstreamsBalanceAndHealthAndNamesTheRest) {
  std::string why;
  auto running = load({"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1"}, why);
  auto loaded = load({"--listen", "127.0.0.1:5", "--upstream", "127.0.0.1:2", "--balance",
                      "maglev", "--hash-key", "path", "--health-path", "/health", "--drain-ms",
                      "100"},
                     why);
  ASSERT_TRUE(running && loaded) << why;
  auto restart = tern::apps::restart_only_changes(*running, *loaded);
  EXPECT_EQ(restart,
            (std::vector<std::string>{"proxy.listen", "proxy.hash-key", "server.drain-ms"}));
  ProxyConfig next = tern::apps::with_live_changes(*running, *loaded);
  EXPECT_EQ(next.upstreams, std::vector<std::string>{"127.0.0.1:2"});
  EXPECT_EQ(next.health_path, "/health");
  EXPECT_EQ(next.listen, "127.0.0.1:0");
  EXPECT_EQ(next.balance, "maglev");
  EXPECT_EQ(next.hash_key, "client");
  EXPECT_EQ(next.server.drain_ms, 5000);
}

// ---------------------------------------------------------------------------------------------
// The binary: bad input exits 2 with one line saying why, before anything listens.

CommandResult run_proxy(const std::vector<std::string>& args) {
  return run_command(TERN_PROXY_PATH, args, kExitTimeout);
}

TEST(TernProxyBinaryConfigTest, HelpListsTheOptions) {
  CommandResult result = run_proxy({"--help"});
  ASSERT_TRUE(result.status.exited_with(0)) << result.err;
  for (const char* flag :
       {"--config", "--listen", "--upstream", "--mode", "--balance", "--hash-key",
        "--health-path", "--health-interval-ms", "--health-timeout-ms", "--health-rise",
        "--health-fall", "--admin", "--upstream-max-connections", "--upstream-idle-timeout-ms",
        "--connect-timeout-ms", "--queue-timeout-ms", "--max-queued", "--response-timeout-ms",
        "--max-attempts", "--retry-budget", "--eject-after", "--eject-base-ms", "--eject-max-ms",
        "--slow-start-ms", "--max-response-body", "--max-request-body", "--backend", "--model", "--threads",
        "--workers", "--drain-ms", "--log-file", "--strict"}) {
    EXPECT_NE(result.out.find(flag), std::string::npos) << flag;
  }
  // --listen replaces them.
  EXPECT_EQ(result.out.find("--host"), std::string::npos);
  EXPECT_EQ(result.out.find("--port "), std::string::npos);
}

TEST(TernProxyBinaryConfigTest, BadConfigFileExits2WithFileLineAndKey) {
  TempDir dir;
  std::string path = dir / "proxy.toml";
  write_file(path, std::string(kMinimal) + "weight = 2\n[health]\nrise = 0\n");
  CommandResult result = run_proxy({"--config", path});
  EXPECT_TRUE(result.status.exited_with(2)) << result.status.describe();
  EXPECT_EQ(result.err, "tern-proxy: " + path + ":8:8: health.rise: must be in 1..1000\n");
  EXPECT_EQ(result.out, "");
}

TEST(TernProxyBinaryConfigTest, BadFlagExits2WithOneLine) {
  CommandResult result =
      run_proxy({"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--mode", "udp"});
  EXPECT_TRUE(result.status.exited_with(2)) << result.status.describe();
  EXPECT_EQ(result.err, "tern-proxy: --mode: 'udp' is not one of http|tcp\n");

  result = run_proxy({"--listen", "127.0.0.1:0"});
  EXPECT_TRUE(result.status.exited_with(2)) << result.status.describe();
  EXPECT_EQ(result.err.rfind("tern-proxy: no upstream", 0), 0u) << result.err;

  result = run_proxy({"--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:1", "--no-such-flag"});
  EXPECT_TRUE(result.status.exited_with(2)) << result.status.describe();
  EXPECT_NE(result.err.find("--no-such-flag"), std::string::npos) << result.err;

  // A shared flag --listen replaces.
  result = run_proxy({"--port", "8080", "--upstream", "127.0.0.1:1"});
  EXPECT_TRUE(result.status.exited_with(2)) << result.status.describe();
  EXPECT_NE(result.err.find("--port"), std::string::npos) << result.err;
}

}  // namespace
