// Snapshot: adding sums shards with the same labels, keeps first-added order, merges
// histograms, and refuses a name reused with another kind.
#include "tern/metrics/snapshot.h"

#include <gtest/gtest.h>

namespace tern::metrics {
namespace {

TEST(MetricsSnapshotTest, CountersWithTheSameLabelsAddUp) {
  Snapshot s;
  s.add_counter("tern_x_total", "x", {{"loop", "0"}}, 3);
  s.add_counter("tern_x_total", "x", {{"loop", "1"}}, 4);
  s.add_counter("tern_x_total", "x", {{"loop", "0"}}, 5);
  EXPECT_EQ(s.value("tern_x_total", {{"loop", "0"}}), 8);
  EXPECT_EQ(s.value("tern_x_total", {{"loop", "1"}}), 4);
  EXPECT_EQ(s.value("tern_x_total", {{"loop", "2"}}), std::nullopt);
  EXPECT_EQ(s.value("tern_y_total", {}), std::nullopt);
  ASSERT_EQ(s.families().size(), 1u);
  EXPECT_EQ(s.families()[0].series.size(), 2u);
}

TEST(MetricsSnapshotTest, LabelsAreMatchedInTheOrderGiven) {
  Snapshot s;
  s.add_gauge("g", "", {{"a", "1"}, {"b", "2"}}, 1);
  s.add_gauge("g", "", {{"b", "2"}, {"a", "1"}}, 1);
  // Same pairs, other order: two series (labels are kept as given, not sorted).
  EXPECT_EQ(s.find("g")->series.size(), 2u);
}

TEST(MetricsSnapshotTest, FamiliesAndSeriesKeepTheOrderOfFirstAdd) {
  Snapshot s;
  s.add_counter("b_total", "", {{"k", "2"}}, 1);
  s.add_gauge("a", "", {}, 1);
  s.add_counter("b_total", "", {{"k", "1"}}, 1);
  ASSERT_EQ(s.families().size(), 2u);
  EXPECT_EQ(s.families()[0].name, "b_total");
  EXPECT_EQ(s.families()[1].name, "a");
  EXPECT_EQ(s.families()[0].series[0].labels[0].second, "2");
  EXPECT_EQ(s.families()[0].series[1].labels[0].second, "1");
}

TEST(MetricsSnapshotTest, KindHelpAndUnitComeFromTheFirstAdd) {
  Snapshot s;
  Histogram h = make_histogram();
  h.record(3);
  s.add_histogram("h", "first", {}, h, Unit::plain);
  s.add_histogram("h", "second", {}, h, Unit::nanoseconds_as_seconds);
  const Family* f = s.find("h");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->help, "first");
  EXPECT_EQ(f->kind, Kind::histogram);
  EXPECT_EQ(f->unit, Unit::plain);
  ASSERT_EQ(f->series.size(), 1u);
  EXPECT_EQ(f->series[0].histogram->count(), 2u);
  // value() answers counters and gauges only.
  EXPECT_EQ(s.value("h", {}), std::nullopt);
}

TEST(MetricsSnapshotTest, HistogramsWithTheSameLabelsMerge) {
  Snapshot s;
  Histogram a = make_histogram();
  Histogram b = make_histogram();
  for (int i = 0; i < 10; ++i) a.record(1000);
  for (int i = 0; i < 5; ++i) b.record(2'000'000);
  s.add_histogram("lat_seconds", "", {{"route", "/"}}, a);
  s.add_histogram("lat_seconds", "", {{"route", "/"}}, b);
  const Histogram& merged = *s.find("lat_seconds")->series[0].histogram;
  EXPECT_EQ(merged.count(), 15u);
  EXPECT_EQ(merged.min(), 1000u);
  EXPECT_GE(merged.max(), 2'000'000u);
}

TEST(MetricsSnapshotTest, MergeAddsEverySeriesOfTheOther) {
  Snapshot loop0;
  Snapshot loop1;
  Histogram h = make_histogram();
  h.record(7);
  loop0.add_counter("c_total", "c", {{"loop", "0"}}, 1);
  loop0.add_histogram("h", "h", {}, h, Unit::plain);
  loop1.add_counter("c_total", "c", {{"loop", "1"}}, 2);
  loop1.add_counter("c_total", "c", {{"loop", "0"}}, 10);
  loop1.add_gauge("g", "g", {}, 4);
  loop1.add_histogram("h", "h", {}, h, Unit::plain);

  Snapshot all;
  all.merge(loop0);
  all.merge(loop1);
  EXPECT_EQ(all.value("c_total", {{"loop", "0"}}), 11);
  EXPECT_EQ(all.value("c_total", {{"loop", "1"}}), 2);
  EXPECT_EQ(all.value("g", {}), 4);
  EXPECT_EQ(all.find("h")->series[0].histogram->count(), 2u);
  EXPECT_EQ(all.find("h")->unit, Unit::plain);
}

TEST(MetricsSnapshotTest, MakeHistogramCoversSixtySecondsAtOnePercent) {
  Histogram h = make_histogram();
  EXPECT_EQ(h.highest(), 60'000'000'000ull);
  EXPECT_EQ(h.significant_digits(), 2);
  EXPECT_LT(h.memory_bytes(), 32u * 1024);  // 29 power-of-two buckets of 128 counters
  h.record(59'000'000'000ull);
  EXPECT_EQ(h.saturated(), 0u);
  EXPECT_NEAR(double(h.percentile(100)), 59e9, 59e9 * 0.01);
}

TEST(MetricsSnapshotDeathTest, AddingAnotherKindUnderAUsedNameAborts) {
  EXPECT_DEATH(
      {
        Snapshot s;
        s.add_counter("x", "", {}, 1);
        s.add_gauge("x", "", {}, 1);
      },
      "family x added as gauge, first added as counter");
}

}  // namespace
}  // namespace tern::metrics
