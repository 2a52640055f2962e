// The proxy's small pure policies: --upstream parsing, hash keys and the fixed hash, outlier
// ejection with backoff and slow start, and the retry budget. Time is passed in: no clock.
#include <array>

#include <gtest/gtest.h>

#include "tern/http/request.h"
#include "tern/proxy/ejection.h"
#include "tern/proxy/hash_key.h"
#include "tern/proxy/retry_budget.h"
#include "tern/proxy/upstream_config.h"

namespace tern::proxy {
namespace {

using namespace std::chrono_literals;

// --- upstream_config ---

TEST(UpstreamConfig, ParsesHostPortAndWeight) {
  std::string why;
  auto plain = parse_upstream("127.0.0.1:8081", why);
  ASSERT_TRUE(plain) << why;
  EXPECT_EQ(plain->name, "127.0.0.1:8081");
  EXPECT_EQ(plain->address.to_string(), "127.0.0.1:8081");
  EXPECT_EQ(plain->weight, 1u);

  auto weighted = parse_upstream("127.0.0.1:8082,weight=3", why);
  ASSERT_TRUE(weighted) << why;
  EXPECT_EQ(weighted->name, "127.0.0.1:8082");
  EXPECT_EQ(weighted->weight, 3u);

  auto v6 = parse_upstream("[::1]:9000,weight=1000", why);
  ASSERT_TRUE(v6) << why;
  EXPECT_EQ(v6->name, "[::1]:9000");
  EXPECT_EQ(v6->address.family(), AF_INET6);
  EXPECT_EQ(v6->weight, 1000u);

  auto local = parse_upstream("localhost:80", why);
  ASSERT_TRUE(local) << why;
  EXPECT_EQ(local->name, "localhost:80");
  EXPECT_EQ(local->address.port(), 80);
}

TEST(UpstreamConfig, RefusesBadValuesSayingWhat) {
  struct Case {
    const char* text;
    const char* mentions;
  };
  for (Case bad : {Case{"127.0.0.1", "HOST:PORT"}, Case{"", "HOST:PORT"},
                   Case{"127.0.0.1:0", "port"}, Case{"127.0.0.1:70000", "port"},
                   Case{"127.0.0.1:http", "port"}, Case{"example.com:80", "host"},
                   Case{"::1:80", "brackets"}, Case{"127.0.0.1:80,weight=0", "weight"},
                   Case{"127.0.0.1:80,weight=1001", "weight"},
                   Case{"127.0.0.1:80,weight=", "weight"},
                   Case{"127.0.0.1:80,backup", "unknown option"}}) {
    std::string why;
    auto upstream = parse_upstream(bad.text, why);
    EXPECT_FALSE(upstream) << bad.text;
    EXPECT_NE(why.find(bad.mentions), std::string::npos) << bad.text << ": " << why;
  }
}

TEST(UpstreamConfig, ModeNamesRoundTrip) {
  EXPECT_EQ(parse_mode("http"), Mode::http);
  EXPECT_EQ(parse_mode("tcp"), Mode::tcp);
  EXPECT_FALSE(parse_mode("udp"));
  EXPECT_STREQ(mode_name(Mode::http), "http");
  EXPECT_STREQ(mode_name(Mode::tcp), "tcp");
}

// --- hash keys ---

TEST(HashKey, ParsesAndNamesEveryKind) {
  for (const char* text : {"client", "path", "header:X-User", "cookie:session"}) {
    auto key = parse_hash_key(text);
    ASSERT_TRUE(key) << text;
    EXPECT_EQ(hash_key_name(*key), text);
  }
  EXPECT_EQ(parse_hash_key("header:X-User")->kind, HashKey::Kind::header);
  EXPECT_EQ(parse_hash_key("header:X-User")->name, "X-User");
  EXPECT_EQ(parse_hash_key("cookie:session")->kind, HashKey::Kind::cookie);
  for (const char* bad : {"", "header", "header:", "cookie:", "ip", "Client"}) {
    EXPECT_FALSE(parse_hash_key(bad)) << bad;
  }
}

// Regression pins: the values this hash gave when it was introduced. Maglev places keys by it
// in every loop and every process, so a change would remap every client across a rolling
// restart; it must never change by accident. They were computed once, independently of this
// code, in Python: FNV-1a 64 (the published vector: "a" -> 0xaf63dc4c8601ec8c) followed by
// splitmix64's finaliser.
TEST(HashKey, HashBytesIsFixed) {
  EXPECT_EQ(hash_bytes(""), 0xf52a15e9a9b5e89bull);
  EXPECT_EQ(hash_bytes("a"), 0x02c0bdbf481420f8ull);
  EXPECT_EQ(hash_bytes("127.0.0.1:8081"), 0x4caaa1631bf51399ull);
  EXPECT_NE(hash_bytes("ab"), hash_bytes("ba"));
}

TEST(HashKey, ClientHashIgnoresThePort) {
  auto a1 = InetAddress::parse("192.0.2.1", 1000).value();
  auto a2 = InetAddress::parse("192.0.2.1", 2000).value();
  auto b = InetAddress::parse("192.0.2.2", 1000).value();
  auto v6 = InetAddress::parse("::1", 1000).value();
  auto v6_other_port = InetAddress::parse("::1", 3000).value();
  EXPECT_EQ(hash_client(a1), hash_client(a2));
  EXPECT_NE(hash_client(a1), hash_client(b));
  EXPECT_EQ(hash_client(v6), hash_client(v6_other_port));
  EXPECT_NE(hash_client(v6), hash_client(a1));
}

struct RequestRig {
  explicit RequestRig(std::vector<http::Header> fields_in) : fields(std::move(fields_in)) {
    request.headers = http::Headers(fields);
    request.remote = InetAddress::parse("198.51.100.7", 5555).value();
    request.target = "/cart/items?page=2";
    request.path = "/cart/items";
    request.query = "page=2";
  }
  std::vector<http::Header> fields;
  http::Request request;
};

TEST(HashKey, HeaderValueCaseInsensitiveNameFallsBackToClient) {
  RequestRig rig({{"Host", "shop"}, {"X-User", "alice"}});
  EXPECT_EQ(hash_request(*parse_hash_key("header:x-user"), rig.request), hash_bytes("alice"));
  EXPECT_EQ(hash_request(*parse_hash_key("header:X-USER"), rig.request), hash_bytes("alice"));
  EXPECT_EQ(hash_request(*parse_hash_key("header:X-Tenant"), rig.request),
            hash_client(rig.request.remote));
}

TEST(HashKey, CookieAmongSeveralInSeveralFields) {
  RequestRig rig({{"Cookie", "theme=dark; session=abc123;lang=en"},
                  {"cookie", "cart=9; tracking=off"}});
  auto cookie = [&](const char* name) {
    return hash_request(*parse_hash_key(std::string("cookie:") + name), rig.request);
  };
  EXPECT_EQ(cookie("session"), hash_bytes("abc123"));
  EXPECT_EQ(cookie("lang"), hash_bytes("en"));
  EXPECT_EQ(cookie("theme"), hash_bytes("dark"));
  EXPECT_EQ(cookie("cart"), hash_bytes("9"));  // the second Cookie field
  EXPECT_EQ(cookie("tracking"), hash_bytes("off"));
  EXPECT_EQ(cookie("Session"), hash_client(rig.request.remote));  // names are case-sensitive
  EXPECT_EQ(cookie("sess"), hash_client(rig.request.remote));     // no prefix match
}

TEST(HashKey, PathIgnoresTheQueryAndClientIsTheDefault) {
  RequestRig rig({});
  EXPECT_EQ(hash_request(*parse_hash_key("path"), rig.request), hash_bytes("/cart/items"));
  rig.request.path = "";  // a hand-built request with only a target
  EXPECT_EQ(hash_request(*parse_hash_key("path"), rig.request), hash_bytes("/cart/items"));
  EXPECT_EQ(hash_request(HashKey{}, rig.request), hash_client(rig.request.remote));
}

// --- ejection ---

const TimePoint t0 = TimePoint{} + 1000s;

EjectionOptions ejection_options() {
  EjectionOptions options;
  options.consecutive_failures = 3;
  options.base_time = 1s;
  options.max_time = 8s;
  options.slow_start = 10s;
  return options;
}

// Fails it until it is ejected; returns when (the time of the ejecting failure).
TimePoint eject(Ejection& ejection, TimePoint now) {
  for (int i = 0; i < 3; ++i) {
    bool ejected = ejection.on_failure(now);
    EXPECT_EQ(ejected, i == 2);
  }
  return now;
}

TEST(Ejection, FailuresInARowEjectAndSuccessResetsTheRun) {
  Ejection ejection(ejection_options());
  EXPECT_FALSE(ejection.on_failure(t0));
  EXPECT_FALSE(ejection.on_failure(t0));
  EXPECT_EQ(ejection.consecutive_failures(), 2);
  ejection.on_success(t0);
  EXPECT_EQ(ejection.consecutive_failures(), 0);
  EXPECT_FALSE(ejection.on_failure(t0));
  EXPECT_FALSE(ejection.on_failure(t0));
  EXPECT_FALSE(ejection.ejected(t0));
  EXPECT_TRUE(ejection.on_failure(t0));
  EXPECT_TRUE(ejection.ejected(t0));
  EXPECT_EQ(ejection.ejected_until(), t0 + 1s);
  EXPECT_TRUE(ejection.ejected(t0 + 999ms));
  EXPECT_FALSE(ejection.ejected(t0 + 1s));
  EXPECT_EQ(ejection.ejections(), 1u);
  // Failures of requests already in flight while ejected count nothing.
  EXPECT_FALSE(ejection.on_failure(t0 + 500ms));
  EXPECT_EQ(ejection.consecutive_failures(), 0);
}

TEST(Ejection, KthEjectionDoublesUpToTheMaximum) {
  EjectionOptions options = ejection_options();
  options.max_time = 6s;  // not a power of two times base: the cap shows
  Ejection ejection(options);
  TimePoint now = t0;
  for (Duration expected : {1s, 2s, 4s, 6s, 6s, 6s}) {
    eject(ejection, now);
    EXPECT_EQ(ejection.ejected_until() - now, expected);
    now = ejection.ejected_until() + 1s;  // back for a second, then failing again
  }
  EXPECT_EQ(ejection.ejections(), 6u);
}

TEST(Ejection, LevelDecaysAfterMaxTimeAdmitted) {
  Ejection ejection(ejection_options());
  eject(ejection, t0);
  eject(ejection, ejection.ejected_until());
  EXPECT_EQ(ejection.level(ejection.ejected_until()), 2);
  TimePoint back = ejection.ejected_until();
  EXPECT_EQ(ejection.level(back + 8s - 1ms), 2);
  eject(ejection, back + 8s - 1ms);  // not yet admitted for max_time: 4 s
  EXPECT_EQ(ejection.ejected_until() - (back + 8s - 1ms), 4s);
  back = ejection.ejected_until();
  EXPECT_EQ(ejection.level(back + 8s), 0);
  eject(ejection, back + 8s);  // admitted for max_time: from base again
  EXPECT_EQ(ejection.ejected_until() - (back + 8s), 1s);
}

TEST(Ejection, SlowStartRampsFromATenthToOne) {
  Ejection ejection(ejection_options());
  EXPECT_DOUBLE_EQ(ejection.weight_factor(t0), 1.0);
  eject(ejection, t0);
  TimePoint back = ejection.ejected_until();
  EXPECT_DOUBLE_EQ(ejection.weight_factor(t0 + 500ms), 0.1);  // still ejected
  EXPECT_DOUBLE_EQ(ejection.weight_factor(back), 0.1);
  EXPECT_NEAR(ejection.weight_factor(back + 5s), 0.55, 1e-9);
  EXPECT_DOUBLE_EQ(ejection.weight_factor(back + 10s), 1.0);
  EXPECT_DOUBLE_EQ(ejection.weight_factor(back + 60s), 1.0);

  TimePoint checked = back + 100s;  // an active check brings it back
  ejection.begin_slow_start(checked);
  EXPECT_DOUBLE_EQ(ejection.weight_factor(checked), 0.1);
  EXPECT_NEAR(ejection.weight_factor(checked + 2500ms), 0.325, 1e-9);
  EXPECT_DOUBLE_EQ(ejection.weight_factor(checked + 10s), 1.0);
}

TEST(Ejection, ZeroTurnsFeaturesOff) {
  EjectionOptions options = ejection_options();
  options.consecutive_failures = 0;
  options.slow_start = Duration::zero();
  Ejection ejection(options);
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(ejection.on_failure(t0));
  EXPECT_FALSE(ejection.ejected(t0));
  ejection.begin_slow_start(t0);
  EXPECT_DOUBLE_EQ(ejection.weight_factor(t0), 1.0);

  options.consecutive_failures = 1;
  Ejection no_ramp(options);
  EXPECT_TRUE(no_ramp.on_failure(t0));
  EXPECT_DOUBLE_EQ(no_ramp.weight_factor(no_ramp.ejected_until()), 1.0);
}

// --- retry budget ---

TEST(RetryBudget, MinRetriesFloorWhenFewRequests) {
  RetryBudget budget;  // ratio 0.2, at least 3
  budget.request_started();
  EXPECT_TRUE(budget.try_start_retry());
  EXPECT_TRUE(budget.try_start_retry());
  EXPECT_TRUE(budget.try_start_retry());
  EXPECT_FALSE(budget.try_start_retry());
  EXPECT_EQ(budget.active_retries(), 3u);
  EXPECT_EQ(budget.retries(), 3u);
  EXPECT_EQ(budget.refused(), 1u);
}

TEST(RetryBudget, RetriesAreEarnedByRequestsAtTheRatio) {
  RetryBudget budget(RetryOptions{2, 0.2, 3});
  for (int i = 0; i < 50; ++i) budget.request_started();
  EXPECT_DOUBLE_EQ(budget.reserve(), 10.0);  // 20% of 50
  int started = 0;
  while (budget.try_start_retry()) ++started;
  EXPECT_EQ(started, 10);  // the floor's three spend earned retries too
  EXPECT_EQ(budget.refused(), 1u);
  // A finished retry frees a place under the floor only (10 in flight): nothing earned is left.
  budget.retry_finished();
  EXPECT_EQ(budget.active_retries(), 9u);
  EXPECT_FALSE(budget.try_start_retry());
  // Five more requests earn one retry more, exactly.
  for (int i = 0; i < 5; ++i) budget.request_started();
  EXPECT_TRUE(budget.try_start_retry());
  EXPECT_FALSE(budget.try_start_retry());
  EXPECT_EQ(budget.refused(), 3u);
  EXPECT_EQ(budget.retries(), 11u);
}

// When an upstream dies, every request in flight on it fails at once: with two upstreams,
// half of all the requests in flight. Each is retried (the reserve holds up to one retry per
// request in flight); a cap on retries in flight at 20% of the requests in flight refused most
// of them (tests/cluster_fault_test.cc saw 12-19 client errors at a kill).
TEST(RetryBudget, AllTheRequestsInFlightOfADeadUpstreamAreRetriedAtOnce) {
  RetryBudget budget(RetryOptions{2, 0.2, 3});
  // A steady load of 64 in flight: each answered request is replaced by a new one.
  for (int i = 0; i < 64; ++i) budget.request_started();
  for (int i = 0; i < 1000; ++i) {
    budget.request_finished();
    budget.request_started();
  }
  EXPECT_DOUBLE_EQ(budget.reserve(), 64.0);  // at most one per request in flight
  int retried = 0;
  for (int i = 0; i < 32; ++i) retried += budget.try_start_retry() ? 1 : 0;
  EXPECT_EQ(retried, 32);
  EXPECT_EQ(budget.refused(), 0u);
  // Past the burst, retries are paid by new requests: a dead upstream that is still picked
  // for every second request cannot get every failure retried for long.
  int refused_later = 0;
  for (int i = 0; i < 1000; ++i) {
    budget.request_started();
    if (i % 2 == 0 && !budget.try_start_retry()) ++refused_later;
  }
  EXPECT_GT(refused_later, 0);
  // The burst, what it left in the reserve, and 20% of the new requests.
  EXPECT_LE(budget.retries(), 32u + 32u + 200u);
}

// available() (the tern_proxy_retry_budget_available gauge) says exactly how many retries in
// a row try_start_retry() would allow now.
TEST(RetryBudget, AvailableIsHowManyRetriesInARowWouldStart) {
  struct Case {
    int requests;          // started (none finished)
    int retries_before;    // started and still in flight before the count
    uint64_t available;
  };
  // 1 request: 0.2 earned, the floor's 3. 50: 10 earned. 50 with 9 retried: 1 earned left.
  // 2 with 2 in flight: 0.4 earned, room for 1 under the floor.
  for (Case c : {Case{1, 0, 3}, Case{50, 0, 10}, Case{50, 9, 1}, Case{2, 2, 1}, Case{0, 3, 0}}) {
    RetryBudget budget(RetryOptions{2, 0.2, 3});
    for (int i = 0; i < c.requests; ++i) budget.request_started();
    for (int i = 0; i < c.retries_before; ++i) ASSERT_TRUE(budget.try_start_retry());
    EXPECT_EQ(budget.available(), c.available) << c.requests << " " << c.retries_before;
    uint64_t started = 0;
    while (budget.try_start_retry()) ++started;
    EXPECT_EQ(started, c.available) << c.requests << " " << c.retries_before;
    EXPECT_EQ(budget.available(), 0u);
  }
  EXPECT_EQ(RetryBudget(RetryOptions{1, 1.0, 10}).available(), 0u);  // no retry at all
}

TEST(RetryBudget, OneAttemptMeansNoRetry) {
  RetryBudget budget(RetryOptions{1, 1.0, 10});
  budget.request_started();
  EXPECT_FALSE(budget.try_start_retry());
  EXPECT_EQ(budget.refused(), 1u);
  EXPECT_EQ(budget.options().max_attempts, 1);
}

}  // namespace
}  // namespace tern::proxy
