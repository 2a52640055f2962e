// store_bench: durable PUTs per second of the embedded storage (tern::store on SQLite,
// durability full: each acknowledged put is fsynced) with group commit against one transaction
// per put, the comparison issue 12 asks for (goal: group commit at least 10x).
//
//   store_bench [--dir DIR] [--writers 64] [--seconds 2] [--rounds 3] [--value-size 100]
//
// One loop thread drives WRITERS puts always in flight (each writer issues its next put when
// the last one is acknowledged) on a fresh database in DIR (default: the working directory;
// put it on the disk you mean to measure, not a tmpfs). The loop thread is pinned to CPU 0 and
// the storage thread to CPU 1 (when there are two). Rounds of the two modes are interleaved
// (group, single, single, group, ...) so drift hits both; each mode reports the median of its
// rounds with the min-max, and the figure puts/transaction. Every round stops by itself after
// SECONDS (and at most 10 million puts).
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite_storage.h"
#include "tern/loop/event_loop.h"
#include "tern/store/store.h"

namespace {

using tern::store::SqliteStorage;

struct Options {
  std::string dir = ".";
  int writers = 64;
  double seconds = 2;
  int rounds = 3;
  size_t value_size = 100;
};

struct RoundResult {
  double puts_per_second = 0;
  double puts_per_transaction = 0;
  uint64_t failures = 0;
};

constexpr uint64_t kMaxPutsPerRound = 10'000'000;

void pin_to(int cpu) {
  if (std::thread::hardware_concurrency() < 2) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

// WRITERS chains of puts on one loop; stops issuing at the deadline and stops the loop when
// the last put in flight is acknowledged.
class Driver {
 public:
  Driver(tern::EventLoop& loop, tern::store::Store& store, const Options& options)
      : loop_(loop), store_(store), value_(options.value_size, 'v'),
        deadline_(tern::Clock::now() + std::chrono::duration_cast<tern::Duration>(
                                           std::chrono::duration<double>(options.seconds))) {
    start_ = tern::Clock::now();
    for (int i = 0; i < options.writers; ++i) issue();
  }
  uint64_t acked() const { return acked_; }
  uint64_t failures() const { return failures_; }
  double elapsed_seconds() const { return std::chrono::duration<double>(last_ - start_).count(); }

 private:
  void issue() {
    ++in_flight_;
    uint64_t n = issued_++;
    store_.put("key-" + std::to_string(n), value_, [this](tern::Result<bool> created) {
      --in_flight_;
      if (created) ++acked_; else ++failures_;
      last_ = tern::Clock::now();
      if (last_ < deadline_ && issued_ < kMaxPutsPerRound) return issue();
      if (in_flight_ == 0) loop_.stop();
    });
  }

  tern::EventLoop& loop_;
  tern::store::Store& store_;
  const std::string value_;
  const tern::TimePoint deadline_;
  tern::TimePoint start_, last_;
  uint64_t issued_ = 0, acked_ = 0, failures_ = 0;
  int in_flight_ = 0;
};

RoundResult run_round(const Options& options, bool group_commit) {
  std::string path = (std::filesystem::path(options.dir) / "store_bench.db").string();
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  tern::store::StorageConfig config;
  config.url = "sqlite:" + path;
  config.durability = tern::store::Durability::full;
  std::string why;
  pin_to(1);  // the storage thread inherits the opening thread's CPU
  auto storage = SqliteStorage::open(config, why, {.group_commit = group_commit});
  if (!storage) {
    std::fprintf(stderr, "store_bench: %s\n", why.c_str());
    std::exit(1);
  }
  RoundResult result;
  std::thread client([&] {
    pin_to(0);
    tern::EventLoop loop;
    auto store = storage->attach(loop);
    Driver driver(loop, *store, options);
    loop.run();
    result.puts_per_second = double(driver.acked()) / std::max(driver.elapsed_seconds(), 1e-9);
    result.failures = driver.failures();
  });
  client.join();
  auto stats = storage->stats();
  result.puts_per_transaction =
      double(stats.writes) / double(std::max<uint64_t>(stats.transactions, 1));
  storage.reset();
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  return result;
}

struct Summary {
  double median = 0, min = 0, max = 0;
};

Summary summarize(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  size_t n = values.size();
  double median = n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  return {median, values.front(), values.back()};
}

bool parse(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) return false;
    const char* value = argv[++i];
    if (flag == "--dir") options.dir = value;
    else if (flag == "--writers") options.writers = std::atoi(value);
    else if (flag == "--seconds") options.seconds = std::atof(value);
    else if (flag == "--rounds") options.rounds = std::atoi(value);
    else if (flag == "--value-size") options.value_size = std::strtoul(value, nullptr, 10);
    else return false;
  }
  return options.writers > 0 && options.seconds > 0 && options.seconds <= 60 &&
         options.rounds > 0 && options.rounds <= 20;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!parse(argc, argv, options)) {
    std::fprintf(stderr,
                 "usage: store_bench [--dir DIR] [--writers 64] [--seconds 2 (<= 60)] "
                 "[--rounds 3 (<= 20)] [--value-size 100]\n");
    return 2;
  }
  std::vector<double> group_rates, single_rates, group_batch, single_batch;
  uint64_t failures = 0;
  for (int round = 0; round < options.rounds; ++round) {
    for (bool group : round % 2 == 0 ? std::vector<bool>{true, false} : std::vector<bool>{false, true}) {
      RoundResult r = run_round(options, group);
      (group ? group_rates : single_rates).push_back(r.puts_per_second);
      (group ? group_batch : single_batch).push_back(r.puts_per_transaction);
      failures += r.failures;
      std::printf("round %d %-22s %10.0f puts/s  %6.1f puts/transaction\n", round + 1,
                  group ? "group commit" : "one transaction/put", r.puts_per_second,
                  r.puts_per_transaction);
    }
  }
  Summary g = summarize(group_rates);
  Summary s = summarize(single_rates);
  std::printf("\ndurable PUTs/s, durability full, %d writers, %zu-byte values, %d rounds of %.1f s, dir %s\n",
              options.writers, options.value_size, options.rounds, options.seconds,
              options.dir.c_str());
  std::printf("  group commit          median %10.0f  (min %.0f, max %.0f)  %.1f puts/transaction\n",
              g.median, g.min, g.max, summarize(group_batch).median);
  std::printf("  one transaction/put   median %10.0f  (min %.0f, max %.0f)  %.1f puts/transaction\n",
              s.median, s.min, s.max, summarize(single_batch).median);
  std::printf("  ratio                 %.1fx (goal: at least 10x)\n", g.median / std::max(s.median, 1e-9));
  if (failures > 0) std::printf("  %llu puts failed\n", static_cast<unsigned long long>(failures));
  return failures > 0 ? 1 : 0;
}
