// http::RouteLabel: the process-wide table of route names, read and written under one mutex
// (only routers being built and metrics being filled touch it, never a request).
#include "tern/http/route_label.h"

#include <mutex>
#include <vector>

namespace tern::http {
namespace {

struct LabelTable {
  std::mutex mutex;
  std::vector<std::string> names{"unrouted", "unmatched", "middleware", "other"};
};

// Never destroyed: a label may be named by a loop's fill while the process exits.
LabelTable& table() {
  static LabelTable* const instance = new LabelTable();
  return *instance;
}

}  // namespace

RouteLabel route_label(std::string_view name) {
  LabelTable& t = table();
  std::lock_guard lock(t.mutex);
  for (size_t i = 0; i < t.names.size(); ++i) {
    if (t.names[i] == name) return static_cast<RouteLabel>(i);
  }
  if (t.names.size() == kMaxRouteLabels) return kOtherRoute;
  t.names.emplace_back(name);
  return static_cast<RouteLabel>(t.names.size() - 1);
}

std::string route_label_name(RouteLabel label) {
  LabelTable& t = table();
  std::lock_guard lock(t.mutex);
  return label < t.names.size() ? t.names[label] : t.names[kUnroutedRoute];
}

}  // namespace tern::http
