// check_prometheus_text: a validator of the Prometheus text exposition format 0.0.4, written
// from the format's rules for tests that read tern's /metrics (it shares no code with
// tern::metrics::to_prometheus, so it does not share its bugs). It returns the first rule
// broken, with the line number, or an empty string when the whole text follows them:
//   - every line ends in '\n'; lines are "# HELP", "# TYPE", other comments, or samples
//   - a family's HELP and TYPE come before its samples, each at most once, and the samples of
//     one family are contiguous (no family appears twice)
//   - metric and label names follow [a-zA-Z_:][a-zA-Z0-9_:]* and [a-zA-Z_][a-zA-Z0-9_]*,
//     label names are unique in a sample, label values use only the escapes \\ \" \n
//   - a sample belongs to the family of the last TYPE: its name, or for a histogram name_bucket
//     (with an "le" label), name_sum and name_count; counters are named *_total
//   - a value is a float, "+Inf", "-Inf" or "NaN"
//   - a histogram series' buckets have increasing le, non-decreasing counts, end with
//     le="+Inf", and that count equals the series' _count; _sum and _count are present
// Samples are returned by parse (name, labels, value) so tests can look values up.
//
// Thread rule: pure functions.
#pragma once

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tern::test {

struct PromSample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};

namespace prom_detail {

inline bool is_metric_name(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool ok = std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' ||
                    (i > 0 && std::isdigit(static_cast<unsigned char>(c)));
    if (!ok) return false;
  }
  return true;
}

inline bool is_label_name(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool ok = std::isalpha(static_cast<unsigned char>(c)) || c == '_' ||
                    (i > 0 && std::isdigit(static_cast<unsigned char>(c)));
    if (!ok) return false;
  }
  return true;
}

inline std::optional<double> parse_value(std::string_view s) {
  if (s == "+Inf") return INFINITY;
  if (s == "-Inf") return -INFINITY;
  if (s == "NaN") return NAN;
  if (s.empty()) return std::nullopt;
  std::string text(s);
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size()) return std::nullopt;
  if (std::isnan(v) || std::isinf(v)) return std::nullopt;  // only the spellings above
  return v;
}

// Parses one sample line into `out`; an error message or "".
inline std::string parse_sample(std::string_view line, PromSample& out) {
  size_t i = 0;
  while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
  out.name = std::string(line.substr(0, i));
  if (!is_metric_name(out.name)) return "bad metric name '" + out.name + "'";
  std::set<std::string> seen;
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (true) {
      if (i < line.size() && line[i] == '}') {
        ++i;
        break;
      }
      size_t eq = line.find('=', i);
      if (eq == std::string_view::npos) return "label without '='";
      std::string key(line.substr(i, eq - i));
      if (!is_label_name(key)) return "bad label name '" + key + "'";
      if (!seen.insert(key).second) return "label '" + key + "' twice";
      i = eq + 1;
      if (i >= line.size() || line[i] != '"') return "label value not quoted";
      ++i;
      std::string value;
      while (true) {
        if (i >= line.size()) return "unterminated label value";
        const char c = line[i++];
        if (c == '"') break;
        if (c == '\\') {
          if (i >= line.size()) return "dangling backslash";
          const char e = line[i++];
          if (e == 'n') {
            value += '\n';
          } else if (e == '\\' || e == '"') {
            value += e;
          } else {
            return std::string("bad escape \\") + e;
          }
        } else {
          value += c;
        }
      }
      out.labels.emplace_back(std::move(key), std::move(value));
      if (i < line.size() && line[i] == ',') {
        ++i;
      } else if (i >= line.size() || line[i] != '}') {
        return "expected ',' or '}' after a label";
      }
    }
  }
  if (i >= line.size() || line[i] != ' ') return "no space before the value";
  std::string_view rest = line.substr(i + 1);
  // An optional timestamp after the value; tern writes none.
  const size_t space = rest.find(' ');
  auto value = parse_value(rest.substr(0, space));
  if (!value) return "bad value '" + std::string(rest) + "'";
  out.value = *value;
  return "";
}

inline std::string help_error(std::string_view help) {
  for (size_t i = 0; i < help.size(); ++i) {
    if (help[i] != '\\') continue;
    if (i + 1 >= help.size() || (help[i + 1] != '\\' && help[i + 1] != 'n')) {
      return "bad escape in HELP";
    }
    ++i;
  }
  return "";
}

// One histogram series' lines, keyed by its labels without "le".
struct HistogramSeries {
  std::vector<std::pair<double, double>> buckets;  // (le, cumulative count) in text order
  std::optional<double> sum;
  std::optional<double> count;
};

inline std::string check_histogram(const std::string& family,
                                   const std::map<std::string, HistogramSeries>& series) {
  for (const auto& [key, s] : series) {
    const std::string where = family + key + ": ";
    if (s.buckets.empty()) return where + "no buckets";
    for (size_t i = 1; i < s.buckets.size(); ++i) {
      if (!(s.buckets[i].first > s.buckets[i - 1].first)) return where + "le not increasing";
      if (s.buckets[i].second < s.buckets[i - 1].second) {
        return where + "bucket counts not cumulative";
      }
    }
    if (!std::isinf(s.buckets.back().first)) return where + "no le=\"+Inf\" bucket last";
    if (!s.sum) return where + "no _sum";
    if (!s.count) return where + "no _count";
    if (*s.count != s.buckets.back().second) return where + "+Inf bucket differs from _count";
  }
  return "";
}

}  // namespace prom_detail

// "" when `text` follows the format; otherwise "line N: what is wrong". `samples`, when
// given, receives every sample.
inline std::string check_prometheus_text(std::string_view text,
                                         std::vector<PromSample>* samples = nullptr) {
  using namespace prom_detail;
  if (!text.empty() && text.back() != '\n') return "text does not end in a newline";
  std::set<std::string> families_done;
  std::set<std::string> helped;
  std::string family;  // the family of the last TYPE
  std::string type;
  std::map<std::string, HistogramSeries> histogram;
  size_t number = 0;
  auto finish_family = [&]() -> std::string {
    std::string error = type == "histogram" ? check_histogram(family, histogram) : "";
    histogram.clear();
    return error;
  };
  while (!text.empty()) {
    ++number;
    const size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    const std::string at = "line " + std::to_string(number) + ": ";
    if (line.empty()) continue;
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      const std::string_view rest = line.substr(7);
      const size_t space = rest.find(' ');
      if (space == std::string_view::npos) return at + "no text after the name";
      const std::string name(rest.substr(0, space));
      const std::string_view what = rest.substr(space + 1);
      if (!is_metric_name(name)) return at + "bad metric name '" + name + "'";
      if (families_done.count(name) != 0) return at + "family " + name + " appears twice";
      if (line[2] == 'H') {
        if (!helped.insert(name).second) return at + "second HELP for " + name;
        if (name == family) return at + "HELP after TYPE for " + name;
        if (auto e = help_error(what); !e.empty()) return at + e;
        continue;
      }
      if (what != "counter" && what != "gauge" && what != "histogram" && what != "summary" &&
          what != "untyped") {
        return at + "unknown type '" + std::string(what) + "'";
      }
      if (!family.empty()) {
        if (auto e = finish_family(); !e.empty()) return at + e;
        families_done.insert(family);
      }
      family = name;
      type = std::string(what);
      if (type == "counter" && !family.ends_with("_total")) {
        return at + "counter " + family + " does not end in _total";
      }
      continue;
    }
    if (line[0] == '#') continue;  // another comment
    PromSample sample;
    if (auto e = parse_sample(line, sample); !e.empty()) return at + e;
    if (family.empty()) return at + "sample before any TYPE";
    if (type == "histogram") {
      std::string key;
      std::optional<double> le;
      for (const auto& [k, v] : sample.labels) {
        if (k == "le") {
          le = parse_value(v);
          if (!le) return at + "bad le '" + v + "'";
        } else {
          key += k + "=" + v + ",";
        }
      }
      HistogramSeries& s = histogram["{" + key + "}"];
      if (sample.name == family + "_bucket") {
        if (!le) return at + "bucket without le";
        s.buckets.emplace_back(*le, sample.value);
      } else if (sample.name == family + "_sum") {
        s.sum = sample.value;
      } else if (sample.name == family + "_count") {
        s.count = sample.value;
      } else {
        return at + "sample " + sample.name + " outside its family " + family;
      }
    } else if (sample.name != family) {
      return at + "sample " + sample.name + " outside its family " + family;
    }
    if (samples) samples->push_back(std::move(sample));
  }
  if (!family.empty()) return finish_family();
  return "";
}

// The value of the sample `name` with exactly `labels`, or nullopt.
inline std::optional<double> find_sample(
    const std::vector<PromSample>& samples, std::string_view name,
    const std::vector<std::pair<std::string, std::string>>& labels) {
  for (const PromSample& s : samples) {
    if (s.name == name && s.labels == labels) return s.value;
  }
  return std::nullopt;
}

}  // namespace tern::test
