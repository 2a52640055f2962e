#include "tern/metrics/snapshot.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace tern::metrics {
namespace {

constexpr uint64_t kHighest = 60'000'000'000ull;  // 60 s in ns
constexpr int kSignificantDigits = 2;

const char* kind_name(Kind kind) noexcept {
  switch (kind) {
    case Kind::counter: return "counter";
    case Kind::gauge: return "gauge";
    case Kind::histogram: return "histogram";
  }
  return "?";
}

}  // namespace

Histogram make_histogram() { return Histogram(kHighest, kSignificantDigits); }

Family& Snapshot::family(std::string_view name, std::string_view help, Kind kind, Unit unit) {
  auto it = std::find_if(families_.begin(), families_.end(),
                         [&](const Family& f) { return f.name == name; });
  if (it == families_.end()) {
    families_.push_back(Family{std::string(name), std::string(help), kind, unit, {}});
    return families_.back();
  }
  if (it->kind != kind) {
    // Two sources disagree about what a name means: a programming error, caught at the first
    // scrape that sees both.
    std::fprintf(stderr, "tern::metrics: family %.*s added as %s, first added as %s\n",
                 int(name.size()), name.data(), kind_name(kind), kind_name(it->kind));
    std::abort();
  }
  return *it;
}

Series& Snapshot::series(Family& family, const Labels& labels) {
  auto it = std::find_if(family.series.begin(), family.series.end(),
                         [&](const Series& s) { return s.labels == labels; });
  if (it != family.series.end()) return *it;
  family.series.push_back(Series{labels, 0, std::nullopt});
  return family.series.back();
}

void Snapshot::add_counter(std::string_view name, std::string_view help, const Labels& labels,
                           double value) {
  series(family(name, help, Kind::counter, Unit::plain), labels).value += value;
}

void Snapshot::add_gauge(std::string_view name, std::string_view help, const Labels& labels,
                         double value) {
  series(family(name, help, Kind::gauge, Unit::plain), labels).value += value;
}

void Snapshot::add_histogram(std::string_view name, std::string_view help, const Labels& labels,
                             const Histogram& histogram, Unit unit) {
  Series& s = series(family(name, help, Kind::histogram, unit), labels);
  if (s.histogram) {
    s.histogram->merge(histogram);  // aborts on a shape mismatch
  } else {
    s.histogram = histogram;
  }
}

void Snapshot::merge(const Snapshot& other) {
  for (const Family& f : other.families_) {
    for (const Series& s : f.series) {
      switch (f.kind) {
        case Kind::counter: add_counter(f.name, f.help, s.labels, s.value); break;
        case Kind::gauge: add_gauge(f.name, f.help, s.labels, s.value); break;
        case Kind::histogram:
          if (s.histogram) add_histogram(f.name, f.help, s.labels, *s.histogram, f.unit);
          break;
      }
    }
    // A family without series still exists in the result (its HELP and TYPE are exported).
    if (f.series.empty()) family(f.name, f.help, f.kind, f.unit);
  }
}

const Family* Snapshot::find(std::string_view name) const noexcept {
  for (const Family& f : families_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::optional<double> Snapshot::value(std::string_view name, const Labels& labels) const {
  const Family* f = find(name);
  if (f == nullptr || f->kind == Kind::histogram) return std::nullopt;
  for (const Series& s : f->series) {
    if (s.labels == labels) return s.value;
  }
  return std::nullopt;
}

}  // namespace tern::metrics
