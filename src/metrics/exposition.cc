#include "tern/metrics/exposition.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <vector>

namespace tern::metrics {
namespace {

constexpr std::array<double, 22> kSecondsBounds = {
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3,
    5e-3, 1e-2, 2.5e-2, 5e-2, 1e-1, 2.5e-1, 5e-1, 1.0,  2.5,  5.0,  10.0};
constexpr std::array<double, 16> kPlainBounds = {1,    2,    5,     10,    20,    50,
                                                 100,  200,  500,   1000,  2000,  5000,
                                                 10000, 20000, 50000, 100000};

// Recorded integer -> exported unit.
double scale(Unit unit) noexcept { return unit == Unit::nanoseconds_as_seconds ? 1e-9 : 1.0; }

// The shortest text that reads back as the same double; Prometheus' spellings of the
// non-finite values (JSON has none: the JSON writer checks first).
void append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[32];
  // Whole numbers as integers (a counter of 1000000 reads "1000000", not "1e+06"); others
  // in the shortest form that reads back exactly.
  const bool whole = std::fabs(v) < 1e15 && v == std::trunc(v);
  auto [end, ec] = whole ? std::to_chars(buf, buf + sizeof buf, int64_t(v))
                         : std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

void append_integer(std::string& out, uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

// The cumulative count of values <= each bound (in exported units). A bucket of the histogram
// counts below a bound when the value it reports (its highest equivalent value) is within it,
// so the counts carry the histogram's relative error, never more.
std::vector<uint64_t> cumulative_counts(const Histogram& h, Unit unit) {
  const std::span<const double> bounds = bucket_bounds(unit);
  std::vector<uint64_t> counts(bounds.size(), 0);
  // Compared in recorded units, as integers: 1000 ns * 1e-9 is not exactly 1e-6.
  std::vector<uint64_t> recorded_bounds(bounds.size());
  for (size_t i = 0; i < bounds.size(); ++i) {
    recorded_bounds[i] = uint64_t(std::llround(bounds[i] / scale(unit)));
  }
  size_t first = 0;  // the first bound not yet below the current bucket's value
  uint64_t cumulative = 0;
  h.for_each_bucket([&](uint64_t value, uint64_t count, double) {
    while (first < bounds.size() && recorded_bounds[first] < value) {
      counts[first++] = cumulative;
    }
    cumulative += count;
  });
  for (; first < bounds.size(); ++first) counts[first] = cumulative;
  return counts;
}

double histogram_sum(const Histogram& h, Unit unit) noexcept {
  return h.mean() * double(h.count()) * scale(unit);
}

// ---- Prometheus text ----

// HELP text escapes backslash and newline; label values also the double quote.
void append_escaped(std::string& out, std::string_view text, bool quote) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// {a="x",b="y"} plus an optional le label; nothing when there are no labels at all.
void append_labels(std::string& out, const Labels& labels, std::string_view le = {}) {
  if (labels.empty() && le.empty()) return;
  out += '{';
  bool first = true;
  for (const auto& [key, value] : labels) {
    if (!first) out += ',';
    first = false;
    out += key;
    out += "=\"";
    append_escaped(out, value, true);
    out += '"';
  }
  if (!le.empty()) {
    if (!first) out += ',';
    out += "le=\"";
    out += le;
    out += '"';
  }
  out += '}';
}

void append_sample(std::string& out, std::string_view name, std::string_view suffix,
                   const Labels& labels, std::string_view le, double value) {
  out += name;
  out += suffix;
  append_labels(out, labels, le);
  out += ' ';
  append_number(out, value);
  out += '\n';
}

void append_histogram_text(std::string& out, const Family& family, const Series& series) {
  if (!series.histogram) return;
  const Histogram& h = *series.histogram;
  const std::span<const double> bounds = bucket_bounds(family.unit);
  const std::vector<uint64_t> counts = cumulative_counts(h, family.unit);
  std::string le;
  for (size_t i = 0; i < bounds.size(); ++i) {
    le.clear();
    append_number(le, bounds[i]);
    append_sample(out, family.name, "_bucket", series.labels, le, double(counts[i]));
  }
  append_sample(out, family.name, "_bucket", series.labels, "+Inf", double(h.count()));
  append_sample(out, family.name, "_sum", series.labels, {}, histogram_sum(h, family.unit));
  append_sample(out, family.name, "_count", series.labels, {}, double(h.count()));
}

const char* type_name(Kind kind) noexcept {
  switch (kind) {
    case Kind::counter: return "counter";
    case Kind::gauge: return "gauge";
    case Kind::histogram: return "histogram";
  }
  return "untyped";
}

// ---- JSON ----

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (u < 0x20) {
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;  // UTF-8 passes through
    }
  }
  out += '"';
}

void append_json_number(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";  // JSON has no NaN or infinity
    return;
  }
  append_number(out, v);
}

void append_json_labels(std::string& out, const Labels& labels) {
  out += '{';
  bool first = true;
  for (const auto& [key, value] : labels) {
    if (!first) out += ',';
    first = false;
    append_json_string(out, key);
    out += ':';
    append_json_string(out, value);
  }
  out += '}';
}

// The fields of a histogram series (no braces): count, sum, percentiles, max, buckets.
void append_json_histogram_fields(std::string& out, const Histogram& h, Unit unit) {
  const double to_unit = scale(unit);
  out += "\"count\":";
  append_integer(out, h.count());
  out += ",\"sum\":";
  append_json_number(out, histogram_sum(h, unit));
  for (const auto& [key, p] : {std::pair{"p50", 50.0}, {"p90", 90.0}, {"p99", 99.0}}) {
    out += ",\"";
    out += key;
    out += "\":";
    append_json_number(out, double(h.percentile(p)) * to_unit);
  }
  out += ",\"max\":";
  append_json_number(out, double(h.max()) * to_unit);
  out += ",\"buckets\":[";
  const std::span<const double> bounds = bucket_bounds(unit);
  const std::vector<uint64_t> counts = cumulative_counts(h, unit);
  for (size_t i = 0; i < bounds.size(); ++i) {
    out += '[';
    append_json_number(out, bounds[i]);
    out += ',';
    append_integer(out, counts[i]);
    out += "],";
  }
  out += "[\"+Inf\",";
  append_integer(out, h.count());
  out += "]]";
}

void append_json_family(std::string& out, const Family& family) {
  out += "{\"name\":";
  append_json_string(out, family.name);
  out += ",\"type\":\"";
  out += type_name(family.kind);
  out += "\",\"help\":";
  append_json_string(out, family.help);
  out += ",\"series\":[";
  std::optional<Histogram> total;
  bool first = true;
  for (const Series& s : family.series) {
    if (family.kind == Kind::histogram && !s.histogram) continue;
    if (!first) out += ',';
    first = false;
    out += "{\"labels\":";
    append_json_labels(out, s.labels);
    if (family.kind == Kind::histogram) {
      out += ',';
      append_json_histogram_fields(out, *s.histogram, family.unit);
      if (total) {
        total->merge(*s.histogram);
      } else {
        total = *s.histogram;
      }
    } else {
      out += ",\"value\":";
      append_json_number(out, s.value);
    }
    out += '}';
  }
  out += ']';
  if (family.kind == Kind::histogram) {
    out += ",\"total\":{";
    append_json_histogram_fields(out, total ? *total : make_histogram(), family.unit);
    out += '}';
  }
  out += '}';
}

}  // namespace

std::span<const double> bucket_bounds(Unit unit) noexcept {
  if (unit == Unit::nanoseconds_as_seconds) return kSecondsBounds;
  return kPlainBounds;
}

std::string to_prometheus(const Snapshot& snapshot) {
  std::string out;
  for (const Family& family : snapshot.families()) {
    out += "# HELP ";
    out += family.name;
    out += ' ';
    append_escaped(out, family.help, false);
    out += "\n# TYPE ";
    out += family.name;
    out += ' ';
    out += type_name(family.kind);
    out += '\n';
    for (const Series& s : family.series) {
      if (family.kind == Kind::histogram) {
        append_histogram_text(out, family, s);
      } else {
        append_sample(out, family.name, {}, s.labels, {}, s.value);
      }
    }
  }
  return out;
}

std::string to_json(const Snapshot& snapshot, std::string_view program, double unix_time) {
  std::string out = "{\"time\":";
  append_json_number(out, unix_time);
  out += ",\"program\":";
  append_json_string(out, program);
  out += ",\"families\":[";
  bool first = true;
  for (const Family& family : snapshot.families()) {
    if (!first) out += ',';
    first = false;
    append_json_family(out, family);
  }
  out += "]}\n";
  return out;
}

}  // namespace tern::metrics
