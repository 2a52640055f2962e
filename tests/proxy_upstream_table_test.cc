// UpstreamTable: one loop's upstreams. apply() adds, re-weights and removes by name (a removed
// one drains: never picked, its transport closed once, its entry erased when the transport
// says it closed); health and admin state by name; begin/end accounting feeding ejection;
// snapshots; and pick() allocating nothing in steady state. The transports are fakes that
// close later, from a task posted on the loop, as a real pool does.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "counting_new.h"
#include "tern/loop/event_loop.h"
#include "tern/proxy/upstream_table.h"

namespace tern::proxy {
namespace {

using namespace std::chrono_literals;

// What the fake transports of one test did, by upstream name.
struct TransportLog {
  std::map<std::string, int> made;
  std::map<std::string, int> closes;
  std::map<std::string, int> destroyed;
};

class FakeTransport : public UpstreamTransport {
 public:
  FakeTransport(EventLoop& loop, std::string name, TransportLog& log)
      : loop_(loop), name_(std::move(name)), log_(log) {
    ++log_.made[name_];
    counters_.connects = 2;
    counters_.reuses = 98;
  }
  ~FakeTransport() override { ++log_.destroyed[name_]; }
  void close(std::function<void()> on_closed) override {
    ++log_.closes[name_];
    loop_.post([on_closed = std::move(on_closed)] { on_closed(); });  // later, on the loop
  }
  PoolCounters counters() const noexcept override { return counters_; }
  size_t open_connections() const noexcept override { return 3; }
  size_t idle_connections() const noexcept override { return 1; }

 private:
  EventLoop& loop_;
  std::string name_;
  TransportLog& log_;
  PoolCounters counters_;
};

UpstreamConfig upstream(const std::string& host_port, uint32_t weight = 1) {
  std::string why;
  auto config = parse_upstream(host_port + ",weight=" + std::to_string(weight), why);
  EXPECT_TRUE(config) << why;
  return config ? *config : UpstreamConfig{};
}

const std::string kA = "127.0.0.1:8081", kB = "127.0.0.1:8082", kC = "127.0.0.1:8083";

class TableRig {
 public:
  explicit TableRig(Algorithm algorithm = Algorithm::round_robin,
                    EjectionOptions ejection = {})
      : table(loop, algorithm, ejection, [this](const UpstreamConfig& config) {
          return std::make_unique<FakeTransport>(loop, config.name, log);
        }) {
    table.set_clock([this] { return now; });
  }

  void apply(std::vector<UpstreamConfig> upstreams) { table.apply(upstreams); }

  // The name of the picked upstream, or "" when there is none.
  std::string pick_name(std::span<const UpstreamId> tried = {}) {
    auto id = table.pick(0, tried);
    if (!id) return "";
    const UpstreamConfig* config = table.config(*id);
    return config ? config->name : "?";
  }

  std::map<std::string, int> pick_counts(int picks) {
    std::map<std::string, int> counts;
    for (int i = 0; i < picks; ++i) ++counts[pick_name()];
    return counts;
  }

  UpstreamId id_of(const std::string& name) {
    for (int i = 0; i < 100; ++i) {
      auto id = table.pick(0);
      if (id && table.config(*id)->name == name) return *id;
    }
    ADD_FAILURE() << name << " never picked";
    return {};
  }

  std::optional<UpstreamSnapshot> find(const std::vector<UpstreamSnapshot>& views,
                                       const std::string& name) {
    for (const auto& view : views) {
      if (view.name == name) return view;
    }
    return std::nullopt;
  }

  // Runs the loop until `done` holds (bounded: a failure, not a wait).
  bool run_until(const std::function<bool()>& done) {
    for (int i = 0; i < 1000 && !done(); ++i) loop.run_once(false);
    return done();
  }

  EventLoop loop;
  TransportLog log;
  TimePoint now = TimePoint{} + 1000s;
  UpstreamTable table;
};

TEST(UpstreamTable, ApplyAddsAndReweights) {
  TableRig rig;
  rig.apply({upstream(kA), upstream(kB)});
  EXPECT_EQ(rig.table.size(), 2u);
  EXPECT_EQ(rig.table.available(), 2u);
  EXPECT_EQ(rig.log.made[kA], 1);
  EXPECT_EQ(rig.log.made[kB], 1);
  EXPECT_EQ(rig.pick_counts(100), (std::map<std::string, int>{{kA, 50}, {kB, 50}}));

  rig.apply({upstream(kA, 3), upstream(kB, 1)});
  EXPECT_EQ(rig.log.made[kA], 1) << "a new weight keeps the transport";
  EXPECT_EQ(rig.table.size(), 2u);
  EXPECT_EQ(rig.pick_counts(100), (std::map<std::string, int>{{kA, 75}, {kB, 25}}));
  auto views = rig.table.snapshot();
  ASSERT_EQ(views.size(), 2u);
  EXPECT_EQ(views[0].name, kA);
  EXPECT_EQ(views[0].weight, 3u);
}

TEST(UpstreamTable, RemovedEntryDrainsClosesOnceAndIsErased) {
  TableRig rig;
  rig.apply({upstream(kA), upstream(kB)});
  UpstreamId b = rig.id_of(kB);
  rig.table.begin(b, false);  // a request in flight to it

  rig.apply({upstream(kA)});
  EXPECT_EQ(rig.log.closes[kB], 1);
  EXPECT_EQ(rig.table.size(), 2u) << "draining until the transport closed";
  EXPECT_EQ(rig.table.available(), 1u);
  EXPECT_EQ(rig.pick_counts(50), (std::map<std::string, int>{{kA, 50}}));
  auto draining = rig.find(rig.table.snapshot(), kB);
  ASSERT_TRUE(draining);
  EXPECT_TRUE(draining->removed);
  EXPECT_EQ(draining->outstanding, 1u);
  EXPECT_NE(rig.table.transport(b), nullptr) << "in-flight work still reaches its transport";
  rig.apply({upstream(kA)});  // the same list again: no second close
  EXPECT_EQ(rig.log.closes[kB], 1);
  EXPECT_FALSE(rig.table.set_healthy(kB, true)) << "a removed name is unknown to the admin";

  ASSERT_TRUE(rig.run_until([&] { return rig.table.size() == 1; }));
  EXPECT_TRUE(rig.run_until([&] { return rig.log.destroyed[kB] == 1; }));
  EXPECT_EQ(rig.log.closes[kB], 1);
  EXPECT_EQ(rig.table.transport(b), nullptr);
  EXPECT_EQ(rig.table.config(b), nullptr);
  rig.table.end(b, Outcome::failure);  // a late end on a stale id: harmless
  EXPECT_FALSE(rig.find(rig.table.snapshot(), kB));
  EXPECT_EQ(rig.log.destroyed[kA], 0);
}

TEST(UpstreamTable, ANameListedAgainWhileDrainingComesBackNew) {
  TableRig rig;
  rig.apply({upstream(kA), upstream(kB)});
  UpstreamId old_b = rig.id_of(kB);
  rig.apply({upstream(kA)});
  rig.apply({upstream(kA), upstream(kB)});
  EXPECT_EQ(rig.table.size(), 3u);
  EXPECT_EQ(rig.log.made[kB], 2);
  UpstreamId new_b = rig.id_of(kB);
  EXPECT_NE(new_b, old_b);
  ASSERT_TRUE(rig.run_until([&] { return rig.table.size() == 2; }));
  EXPECT_EQ(rig.table.transport(old_b), nullptr);
  EXPECT_NE(rig.table.transport(new_b), nullptr);
  EXPECT_EQ(rig.pick_counts(10), (std::map<std::string, int>{{kA, 5}, {kB, 5}}));
  // A slot reused by a later entry does not answer to the old id.
  rig.apply({upstream(kA), upstream(kB), upstream(kC)});
  EXPECT_EQ(rig.table.config(old_b), nullptr);
}

// Maglev over the table: a name dropped and listed again while its old entry drains gets
// back exactly its keys (the draining entry is no longer one of the balancer's candidates).
TEST(UpstreamTable, MaglevKeysSurviveARemoveAndReAdd) {
  TableRig rig(Algorithm::maglev);
  rig.apply({upstream(kA), upstream(kB), upstream(kC)});
  auto place = [&] {
    std::vector<std::string> names;
    for (uint64_t key = 0; key < 3000; ++key) {
      auto id = rig.table.pick(key * 0x9e3779b97f4a7c15ull);
      names.push_back(id ? rig.table.config(*id)->name : "");
    }
    return names;
  };
  std::vector<std::string> before = place();
  rig.apply({upstream(kA), upstream(kC)});
  rig.apply({upstream(kA), upstream(kC), upstream(kB)});
  ASSERT_EQ(rig.table.size(), 4u) << "the old entry still drains";
  EXPECT_EQ(place(), before);
}

TEST(UpstreamTable, HealthAndAdminByName) {
  TableRig rig;
  rig.apply({upstream(kA), upstream(kB), upstream(kC)});
  EXPECT_FALSE(rig.table.set_healthy("127.0.0.1:9999", false));
  EXPECT_FALSE(rig.table.set_admin("nope", AdminState::drained));

  EXPECT_TRUE(rig.table.set_healthy(kA, false));
  EXPECT_TRUE(rig.table.set_admin(kB, AdminState::drained));
  EXPECT_EQ(rig.table.available(), 1u);
  EXPECT_EQ(rig.pick_counts(30), (std::map<std::string, int>{{kC, 30}}));
  auto views = rig.table.snapshot();
  EXPECT_FALSE(rig.find(views, kA)->healthy);
  EXPECT_EQ(rig.find(views, kB)->admin, AdminState::drained);
  EXPECT_STREQ(admin_state_name(AdminState::drained), "drained");

  EXPECT_TRUE(rig.table.set_healthy(kC, false));
  EXPECT_EQ(rig.pick_name(), "") << "every upstream down: nothing to pick";
  EXPECT_EQ(rig.table.available(), 0u);

  // Coming back up starts slow start: a tenth of the weight, ramping.
  EXPECT_TRUE(rig.table.set_healthy(kA, true));
  EXPECT_DOUBLE_EQ(rig.find(rig.table.snapshot(), kA)->weight_factor, 0.1);
  rig.now += 10s;
  EXPECT_DOUBLE_EQ(rig.find(rig.table.snapshot(), kA)->weight_factor, 1.0);
  EXPECT_TRUE(rig.table.set_admin(kB, AdminState::enabled));
  EXPECT_EQ(rig.pick_counts(10), (std::map<std::string, int>{{kA, 5}, {kB, 5}}));
}

TEST(UpstreamTable, TriedUpstreamsAreNotPickedAgain) {
  TableRig rig;
  rig.apply({upstream(kA), upstream(kB)});
  UpstreamId a = rig.id_of(kA);
  UpstreamId b = rig.id_of(kB);
  std::vector<UpstreamId> tried{a};
  for (int i = 0; i < 10; ++i) EXPECT_EQ(rig.pick_name(tried), kB);
  tried.push_back(b);
  EXPECT_EQ(rig.pick_name(tried), "");
}

TEST(UpstreamTable, FailuresEjectUntilEjectedUntil) {
  EjectionOptions ejection;
  ejection.consecutive_failures = 3;
  ejection.base_time = 5s;
  ejection.slow_start = 10s;
  TableRig rig(Algorithm::round_robin, ejection);
  rig.apply({upstream(kA), upstream(kB)});
  UpstreamId a = rig.id_of(kA);
  for (int i = 0; i < 3; ++i) {
    rig.table.begin(a, /*retry=*/i == 2);
    EXPECT_EQ(rig.find(rig.table.snapshot(), kA)->outstanding, 1u);
    rig.table.end(a, Outcome::failure);
  }
  auto views = rig.table.snapshot();
  auto view = rig.find(views, kA);
  ASSERT_TRUE(view);
  EXPECT_TRUE(view->ejected);
  EXPECT_EQ(view->outstanding, 0u);
  EXPECT_EQ(view->stats.requests, 3u);
  EXPECT_EQ(view->stats.retries, 1u);
  EXPECT_EQ(view->stats.failures, 3u);
  EXPECT_EQ(view->stats.ejections, 1u);
  EXPECT_EQ(rig.table.available(), 1u);
  EXPECT_EQ(rig.pick_counts(20), (std::map<std::string, int>{{kB, 20}}));

  rig.now += 5s - 1ms;
  EXPECT_EQ(rig.pick_counts(20), (std::map<std::string, int>{{kB, 20}}));
  rig.now += 1ms;  // ejected_until reached: back, at a tenth of its weight
  views = rig.table.snapshot();
  EXPECT_FALSE(rig.find(views, kA)->ejected);
  EXPECT_DOUBLE_EQ(rig.find(views, kA)->weight_factor, 0.1);
  // 10 of every 110 (weights 0.1 and 1), give or take one: the round-robin state of the
  // picks made while it was out carries over.
  std::map<std::string, int> counts = rig.pick_counts(110);
  EXPECT_NEAR(counts[kA], 10, 1);
  EXPECT_EQ(counts[kA] + counts[kB], 110);

  // Successes and neutral outcomes count; neutral ones feed nothing.
  rig.table.begin(a, false);
  rig.table.end(a, Outcome::success);
  rig.table.begin(a, false);
  rig.table.end(a, Outcome::neutral);
  view = rig.find(rig.table.snapshot(), kA);
  EXPECT_EQ(view->stats.successes, 1u);
  EXPECT_EQ(view->stats.failures, 3u);
  EXPECT_EQ(view->stats.requests, 5u);
}

TEST(UpstreamTable, SnapshotCarriesTransportCounters) {
  TableRig rig;
  rig.apply({upstream(kA, 7)});
  auto views = rig.table.snapshot();
  ASSERT_EQ(views.size(), 1u);
  EXPECT_EQ(views[0].name, kA);
  EXPECT_EQ(views[0].weight, 7u);
  EXPECT_TRUE(views[0].healthy);
  EXPECT_FALSE(views[0].ejected);
  EXPECT_FALSE(views[0].removed);
  EXPECT_EQ(views[0].admin, AdminState::enabled);
  EXPECT_DOUBLE_EQ(views[0].weight_factor, 1.0);
  EXPECT_EQ(views[0].pool.connects, 2u);
  EXPECT_EQ(views[0].pool.reuses, 98u);
  EXPECT_DOUBLE_EQ(views[0].pool.reuse_ratio(), 0.98);
  EXPECT_EQ(views[0].open_connections, 3u);
  EXPECT_EQ(views[0].idle_connections, 1u);
  EXPECT_EQ(rig.table.balancer().algorithm(), Algorithm::round_robin);
}

TEST(UpstreamTable, PickAllocatesNothingInSteadyState) {
  for (Algorithm algorithm : {Algorithm::round_robin, Algorithm::least_outstanding,
                              Algorithm::p2c, Algorithm::maglev}) {
    TableRig rig(algorithm);
    rig.apply({upstream(kA), upstream(kB, 2), upstream(kC)});
    std::vector<UpstreamId> tried;
    tried.reserve(2);
    ASSERT_TRUE(rig.table.pick(1));  // the first pick builds the balancer's state
    uint64_t before = test::heap_allocations.load();
    for (uint64_t i = 0; i < 1000; ++i) {
      auto id = rig.table.pick(i * 7919, tried);
      ASSERT_TRUE(id);
      rig.table.begin(*id, false);
      rig.table.end(*id, Outcome::success);
    }
    EXPECT_EQ(test::heap_allocations.load() - before, 0u) << algorithm_name(algorithm);
    // The counter counts: a change of the list rebuilds, and that allocates (a name too long
    // for the small-string buffer is copied).
    rig.apply({upstream(kA), upstream("[2001:db8::1]:8081")});
    before = test::heap_allocations.load();
    ASSERT_TRUE(rig.table.pick(1));
    EXPECT_GT(test::heap_allocations.load() - before, 0u) << algorithm_name(algorithm);
  }
}

TEST(UpstreamTable, DestroyedWhileATransportIsClosing) {
  EventLoop loop;
  TransportLog log;
  {
    UpstreamTable table(loop, Algorithm::round_robin, {}, [&](const UpstreamConfig& config) {
      return std::make_unique<FakeTransport>(loop, config.name, log);
    });
    std::vector<UpstreamConfig> both{upstream(kA), upstream(kB)};
    table.apply(both);
    std::vector<UpstreamConfig> one{upstream(kA)};
    table.apply(one);  // kB's close callback is now queued on the loop
    EXPECT_EQ(log.closes[kB], 1);
  }
  EXPECT_EQ(log.destroyed[kA], 1);
  EXPECT_EQ(log.destroyed[kB], 1);
  loop.run_once(false);  // the queued callback finds no table (ASan: no use after free)
  EXPECT_EQ(log.destroyed[kB], 1);
}

}  // namespace
}  // namespace tern::proxy
