// Exposition: the Prometheus text checked line by line against the format's rules (by a
// validator that shares no code with the writer, tests/prometheus_text.h), exact bucket
// counts on the fixed bounds, escaping; the JSON document parsed back and checked.
#include "tern/metrics/exposition.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "json_value.h"
#include "prometheus_text.h"

namespace tern::metrics {
namespace {

using test::check_prometheus_text;
using test::find_sample;
using test::PromSample;

// A snapshot with every kind, both units, labels needing escapes and an empty histogram.
Snapshot sample_snapshot() {
  Snapshot s;
  s.add_counter("tern_requests_total", "Requests served.\nSecond line with a \\ backslash",
                {{"loop", "0"}, {"class", "2xx"}}, 12);
  s.add_counter("tern_requests_total", "", {{"loop", "1"}, {"class", "2xx"}}, 30);
  s.add_gauge("tern_connections", "Open connections.", {}, 3);
  s.add_gauge("tern_odd_label", "Label values with quotes.",
              {{"path", "a\"b\\c\nd"}}, -1.5);
  Histogram latency = make_histogram();
  for (int i = 0; i < 90; ++i) latency.record(900);          // 0.9 us
  for (int i = 0; i < 9; ++i) latency.record(3'000'000);     // 3 ms
  latency.record(20'000'000'000ull);                          // 20 s: above every bound
  s.add_histogram("tern_latency_seconds", "Latency.", {{"route", "/a"}}, latency);
  s.add_histogram("tern_latency_seconds", "Latency.", {{"route", "/b"}}, make_histogram());
  Histogram batch = make_histogram();
  batch.record(1);
  batch.record(2);
  batch.record(3);
  batch.record(7);
  batch.record(150'000);
  s.add_histogram("tern_batch_size", "Batch sizes.", {}, batch, Unit::plain);
  return s;
}

TEST(MetricsExpositionTest, TextFollowsTheFormatRules) {
  const std::string text = to_prometheus(sample_snapshot());
  std::vector<PromSample> samples;
  EXPECT_EQ(check_prometheus_text(text, &samples), "") << text;
  EXPECT_EQ(find_sample(samples, "tern_requests_total", {{"loop", "1"}, {"class", "2xx"}}), 30);
  EXPECT_EQ(find_sample(samples, "tern_connections", {}), 3);
  // The validator unescapes: the value read back is the one added.
  EXPECT_EQ(find_sample(samples, "tern_odd_label", {{"path", "a\"b\\c\nd"}}), -1.5);
}

TEST(MetricsExpositionTest, HelpTypeAndEscapesAreWrittenExactly) {
  const std::string text = to_prometheus(sample_snapshot());
  EXPECT_NE(text.find("# HELP tern_requests_total Requests served.\\nSecond line with a \\\\ "
                      "backslash\n# TYPE tern_requests_total counter\n"
                      "tern_requests_total{loop=\"0\",class=\"2xx\"} 12\n"
                      "tern_requests_total{loop=\"1\",class=\"2xx\"} 30\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE tern_connections gauge\ntern_connections 3\n"), std::string::npos);
  EXPECT_NE(text.find("tern_odd_label{path=\"a\\\"b\\\\c\\nd\"} -1.5\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE tern_latency_seconds histogram\n"), std::string::npos);
}

TEST(MetricsExpositionTest, BucketBoundsAreTheFixedSteps) {
  auto seconds = bucket_bounds(Unit::nanoseconds_as_seconds);
  ASSERT_EQ(seconds.size(), 22u);
  EXPECT_DOUBLE_EQ(seconds.front(), 1e-6);
  EXPECT_DOUBLE_EQ(seconds[1], 2.5e-6);
  EXPECT_DOUBLE_EQ(seconds[2], 5e-6);
  EXPECT_DOUBLE_EQ(seconds.back(), 10);
  auto plain = bucket_bounds(Unit::plain);
  ASSERT_EQ(plain.size(), 16u);
  EXPECT_EQ(plain.front(), 1);
  EXPECT_EQ(plain[1], 2);
  EXPECT_EQ(plain[2], 5);
  EXPECT_EQ(plain.back(), 100000);
  for (auto bounds : {seconds, plain}) {
    for (size_t i = 1; i < bounds.size(); ++i) EXPECT_LT(bounds[i - 1], bounds[i]);
  }
}

TEST(MetricsExpositionTest, BucketsCountTheValuesAtOrBelowEachBound) {
  const std::string text = to_prometheus(sample_snapshot());
  std::vector<PromSample> samples;
  ASSERT_EQ(check_prometheus_text(text, &samples), "") << text;
  auto bucket = [&](const std::string& route, const std::string& le) {
    return find_sample(samples, "tern_latency_seconds_bucket", {{"route", route}, {"le", le}});
  };
  EXPECT_EQ(bucket("/a", "1e-06"), 90);    // the 0.9 us values
  EXPECT_EQ(bucket("/a", "0.0025"), 90);   // 3 ms is above 2.5 ms
  EXPECT_EQ(bucket("/a", "0.005"), 99);
  EXPECT_EQ(bucket("/a", "10"), 99);       // 20 s only in +Inf
  EXPECT_EQ(bucket("/a", "+Inf"), 100);
  EXPECT_EQ(find_sample(samples, "tern_latency_seconds_count", {{"route", "/a"}}), 100);
  const double sum = *find_sample(samples, "tern_latency_seconds_sum", {{"route", "/a"}});
  EXPECT_NEAR(sum, 90 * 900e-9 + 9 * 3e-3 + 20, 1e-9);
  // An empty series: zeros everywhere, still well formed.
  EXPECT_EQ(bucket("/b", "+Inf"), 0);
  EXPECT_EQ(find_sample(samples, "tern_latency_seconds_sum", {{"route", "/b"}}), 0);

  auto plain = [&](const std::string& le) {
    return find_sample(samples, "tern_batch_size_bucket", {{"le", le}});
  };
  EXPECT_EQ(plain("1"), 1);
  EXPECT_EQ(plain("2"), 2);
  EXPECT_EQ(plain("5"), 3);
  EXPECT_EQ(plain("10"), 4);
  EXPECT_EQ(plain("100000"), 4);
  EXPECT_EQ(plain("+Inf"), 5);
  EXPECT_EQ(find_sample(samples, "tern_batch_size_sum", {}), 1 + 2 + 3 + 7 + 150'000);
}

// The validator must be able to fail, or the test above proves nothing: each broken text
// names the rule it breaks.
TEST(MetricsExpositionTest, ValidatorRejectsEachBrokenRule) {
  struct Case {
    const char* text;
    const char* error_part;
  };
  const Case cases[] = {
      {"x_total 1\n", "sample before any TYPE"},
      {"# TYPE x_total counter\nx_total 1", "newline"},
      {"# TYPE x counter\nx 1\n", "does not end in _total"},
      {"# TYPE x_total counter\n# HELP x_total h\n", "HELP after TYPE"},
      {"# TYPE 1x gauge\n", "bad metric name"},
      {"# TYPE g gauge\ng{1a=\"v\"} 1\n", "bad label name"},
      {"# TYPE g gauge\ng{a=\"v\\t\"} 1\n", "bad escape"},
      {"# TYPE g gauge\ng{a=\"v\",a=\"w\"} 1\n", "twice"},
      {"# TYPE g gauge\ng{a=v} 1\n", "not quoted"},
      {"# TYPE g gauge\ng one\n", "bad value"},
      {"# TYPE g gauge\nh 1\n", "outside its family"},
      {"# TYPE g gauge\ng 1\n# TYPE k gauge\nk 1\n# TYPE g gauge\n", "appears twice"},
      {"# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"2\"} 1\n"
       "h_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n",
       "not cumulative"},
      {"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
       "differs from _count"},
      {"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", "+Inf"},
      {"# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\n"
       "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
       "le not increasing"},
      {"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n", "no _sum"},
  };
  for (const Case& c : cases) {
    const std::string error = check_prometheus_text(c.text);
    EXPECT_NE(error.find(c.error_part), std::string::npos)
        << "text:\n" << c.text << "error: '" << error << "'";
  }
}

// ---- JSON ----

const test::JsonValue* family_named(const test::JsonValue& doc, std::string_view name) {
  for (const auto& f : doc.get("families")->items) {
    if (f.get("name") && f.get("name")->text == name) return &f;
  }
  return nullptr;
}

test::JsonValue parse(const std::string& text) {
  std::string error;
  auto doc = test::parse_json(text, error);
  EXPECT_TRUE(doc) << error << "\n" << text;
  return doc ? *doc : test::JsonValue{};
}

TEST(MetricsExpositionTest, JsonParsesAndCarriesEveryFamily) {
  const Snapshot snapshot = sample_snapshot();
  const test::JsonValue doc = parse(to_json(snapshot, "tern-\"test\"", 1700000000.25));
  ASSERT_EQ(doc.kind, test::JsonValue::Kind::object);
  EXPECT_EQ(doc.get("time")->number, 1700000000.25);
  EXPECT_EQ(doc.get("program")->text, "tern-\"test\"");
  ASSERT_EQ(doc.get("families")->items.size(), snapshot.families().size());

  const auto* requests = family_named(doc, "tern_requests_total");
  ASSERT_NE(requests, nullptr);
  EXPECT_EQ(requests->get("type")->text, "counter");
  EXPECT_EQ(requests->get("help")->text, "Requests served.\nSecond line with a \\ backslash");
  ASSERT_EQ(requests->get("series")->items.size(), 2u);
  const auto& first = requests->get("series")->items[0];
  EXPECT_EQ(first.at("labels.loop")->text, "0");
  EXPECT_EQ(first.at("labels.class")->text, "2xx");
  EXPECT_EQ(first.get("value")->number, 12);
  EXPECT_EQ(requests->get("total"), nullptr);  // histograms only

  const auto* odd = family_named(doc, "tern_odd_label");
  EXPECT_EQ(odd->get("type")->text, "gauge");
  EXPECT_EQ(odd->get("series")->items[0].at("labels.path")->text, "a\"b\\c\nd");
}

// Checks one histogram object (a series or the total) against what was recorded.
void expect_histogram(const test::JsonValue& h, double count, double sum, size_t bounds) {
  EXPECT_EQ(h.get("count")->number, count);
  EXPECT_NEAR(h.get("sum")->number, sum, 1e-9 * std::max(1.0, sum));
  for (const char* key : {"p50", "p90", "p99", "max"}) EXPECT_TRUE(h.get(key)->is_number()) << key;
  const auto& buckets = h.get("buckets")->items;
  ASSERT_EQ(buckets.size(), bounds + 1);
  for (size_t i = 0; i < buckets.size(); ++i) {
    ASSERT_EQ(buckets[i].items.size(), 2u);
    if (i + 1 < buckets.size()) {
      EXPECT_TRUE(buckets[i].items[0].is_number());
      if (i > 0) {
        EXPECT_LT(buckets[i - 1].items[0].number, buckets[i].items[0].number);
        EXPECT_LE(buckets[i - 1].items[1].number, buckets[i].items[1].number);
      }
    }
  }
  EXPECT_EQ(buckets.back().items[0].text, "+Inf");
  EXPECT_EQ(buckets.back().items[1].number, count);
}

TEST(MetricsExpositionTest, JsonHistogramsHaveSeriesAndTotalInExportedUnits) {
  const test::JsonValue doc = parse(to_json(sample_snapshot(), "t", 0));
  const auto* latency = family_named(doc, "tern_latency_seconds");
  ASSERT_NE(latency, nullptr);
  EXPECT_EQ(latency->get("type")->text, "histogram");
  const auto& a = latency->get("series")->items[0];
  EXPECT_EQ(a.at("labels.route")->text, "/a");
  const double sum = 90 * 900e-9 + 9 * 3e-3 + 20;
  expect_histogram(a, 100, sum, 22);
  // 90 of 100 values are 0.9 us: p50 reads about that, in seconds; max is the 20 s value.
  EXPECT_NEAR(a.get("p50")->number, 900e-9, 900e-9 * 0.01);
  EXPECT_NEAR(a.get("p99")->number, 3e-3, 3e-3 * 0.01);
  EXPECT_NEAR(a.get("max")->number, 20, 20 * 0.01);
  EXPECT_EQ(a.get("buckets")->items[0].items[1].number, 90);  // le 1e-6
  expect_histogram(latency->get("series")->items[1], 0, 0, 22);
  expect_histogram(*latency->get("total"), 100, sum, 22);

  const auto* batch = family_named(doc, "tern_batch_size");
  expect_histogram(batch->get("series")->items[0], 5, 1 + 2 + 3 + 7 + 150'000, 16);
  EXPECT_EQ(batch->get("series")->items[0].get("max")->number, 150'000);
}

TEST(MetricsExpositionTest, AnEmptySnapshotIsAnEmptyTextAndAnEmptyFamilyList) {
  EXPECT_EQ(to_prometheus(Snapshot{}), "");
  const test::JsonValue doc = parse(to_json(Snapshot{}, "p", 1));
  EXPECT_TRUE(doc.get("families")->items.empty());
}

TEST(MetricsExpositionTest, JsonEscapesControlCharacters) {
  Snapshot s;
  s.add_gauge("g", std::string("tab\there\x01"), {{"k", "\x1f"}}, NAN);
  const test::JsonValue doc = parse(to_json(s, "p", 1));
  const auto* g = family_named(doc, "g");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->get("help")->text, "tab\there\x01");
  EXPECT_EQ(g->get("series")->items[0].at("labels.k")->text, "\x1f");
  // JSON has no NaN: null.
  EXPECT_EQ(g->get("series")->items[0].get("value")->kind, test::JsonValue::Kind::null);
}

}  // namespace
}  // namespace tern::metrics
