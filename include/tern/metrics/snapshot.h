// Snapshot: the metrics of a process at one moment, as families of series (Prometheus' data
// model: a family is a name, a help text and a kind; a series is one set of labels and its
// value). Sources add into one Snapshot; the exposition functions render it.
//
// Adding is summing: two loops that add the same (name, labels) produce one series with the
// total (their counts added, their histograms merged), so per-loop shards need no
// coordination. Families and series keep the order in which they were first added, so the
// output is stable from one scrape to the next.
//
// Thread rule: pure data; any thread on its own copy, no locking.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tern/metrics/histogram.h"

namespace tern::metrics {

enum class Kind : uint8_t { counter, gauge, histogram };
// How a histogram's recorded integers are exported: nanoseconds shown as seconds, or as is
// (a batch size, a count of events per wait).
enum class Unit : uint8_t { nanoseconds_as_seconds, plain };
using Labels = std::vector<std::pair<std::string, std::string>>;  // in the order given

// The histogram every metric of tern records into: 2 significant digits (1 % relative error),
// values up to 60 s in ns (or 60e9 of anything); about 30 KiB each. Any thread.
Histogram make_histogram();

struct Series {
  Labels labels;
  double value = 0;                     // counter, gauge
  std::optional<Histogram> histogram;   // histogram
};

struct Family {
  std::string name;   // Prometheus rules: [a-zA-Z_:][a-zA-Z0-9_:]*; counters end in _total
  std::string help;
  Kind kind = Kind::counter;
  Unit unit = Unit::plain;     // histograms only
  std::vector<Series> series;  // in the order first added
};

class Snapshot {
 public:
  // Adds to the series (name, labels), creating family and series on first use: counters and
  // gauges add up (so shards of several loops with the same labels sum), histograms merge.
  // A family's kind, help and unit come from its first add; a later add of another kind
  // aborts (a programming error), as does a histogram of another shape than make_histogram's
  // merged into one of make_histogram's.
  void add_counter(std::string_view name, std::string_view help, const Labels& labels,
                   double value);
  void add_gauge(std::string_view name, std::string_view help, const Labels& labels,
                 double value);
  void add_histogram(std::string_view name, std::string_view help, const Labels& labels,
                     const Histogram& histogram, Unit unit = Unit::nanoseconds_as_seconds);
  // Every family and series of other, added as above.
  void merge(const Snapshot& other);

  const std::vector<Family>& families() const noexcept { return families_; }
  // The family called `name`, or null.
  const Family* find(std::string_view name) const noexcept;
  // The value of a counter/gauge series, or nullopt (tests and the status page's JSON use it).
  std::optional<double> value(std::string_view name, const Labels& labels) const;

 private:
  // The family `name`, created with these fields on first use; aborts on a kind mismatch.
  Family& family(std::string_view name, std::string_view help, Kind kind, Unit unit);
  // The series of `family` with exactly `labels`, created on first use.
  static Series& series(Family& family, const Labels& labels);

  std::vector<Family> families_;
};

}  // namespace tern::metrics
