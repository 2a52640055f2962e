#include "admin_api.h"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace tern::apps {
namespace {

// One upstream summed over the loops.
struct Merged {
  std::string name;
  bool removed = false;
  uint32_t weight = 1;
  bool healthy = true;   // on every loop (one verdict, posted to all)
  bool ejected = false;  // on any loop
  bool drained = false;  // on any loop
  double weight_factor = 1.0;  // the lowest
  size_t outstanding = 0;
  proxy::UpstreamStats stats;
  PoolCounters pool;
  size_t open_connections = 0;
  size_t idle_connections = 0;
};

void add(Merged& into, const proxy::UpstreamSnapshot& from) {
  into.weight = from.weight;
  into.healthy = into.healthy && from.healthy;
  into.ejected = into.ejected || from.ejected;
  into.drained = into.drained || from.admin == proxy::AdminState::drained;
  into.weight_factor = std::min(into.weight_factor, from.weight_factor);
  into.outstanding += from.outstanding;
  into.stats.requests += from.stats.requests;
  into.stats.retries += from.stats.retries;
  into.stats.successes += from.stats.successes;
  into.stats.failures += from.stats.failures;
  into.stats.ejections += from.stats.ejections;
  into.pool.connects += from.pool.connects;
  into.pool.reuses += from.pool.reuses;
  into.pool.connect_failures += from.pool.connect_failures;
  into.pool.waits += from.pool.waits;
  into.pool.wait_timeouts += from.pool.wait_timeouts;
  into.pool.queue_full += from.pool.queue_full;
  into.open_connections += from.open_connections;
  into.idle_connections += from.idle_connections;
}

// By name and removed flag (a name removed and listed again has two entries while the old
// one drains), in the order the first loop lists them.
std::vector<Merged> merge(const std::vector<LoopReport>& reports) {
  std::vector<Merged> merged;
  for (const LoopReport& report : reports) {
    for (const proxy::UpstreamSnapshot& upstream : report.upstreams) {
      auto it = std::find_if(merged.begin(), merged.end(), [&](const Merged& m) {
        return m.name == upstream.name && m.removed == upstream.removed;
      });
      if (it == merged.end()) {
        merged.push_back(Merged{.name = upstream.name, .removed = upstream.removed});
        it = merged.end() - 1;
      }
      add(*it, upstream);
    }
  }
  return merged;
}

const char* state_of(const Merged& upstream) {
  if (upstream.removed) return "removed";
  if (upstream.drained) return "drained";
  if (!upstream.healthy) return "down";
  if (upstream.ejected) return "ejected";
  return "up";
}

// A small JSON writer: keys and values in order, commas placed for the caller.
class Json {
 public:
  Json& open(char bracket) {
    comma();
    text_ += bracket;
    first_ = true;
    return *this;
  }
  Json& close(char bracket) {
    text_ += bracket;
    first_ = false;
    return *this;
  }
  Json& key(std::string_view name) {
    comma();
    string(name);
    text_ += ':';
    first_ = true;  // the value follows without a comma
    return *this;
  }
  Json& value(std::string_view text) {
    comma();
    string(text);
    return *this;
  }
  Json& value(const char* text) { return value(std::string_view(text)); }
  Json& value(bool flag) {
    comma();
    text_ += flag ? "true" : "false";
    return *this;
  }
  Json& value(uint64_t number) {
    comma();
    text_ += std::to_string(number);
    return *this;
  }
  Json& value(double number) {
    comma();
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.6g", number);
    text_ += buffer;
    return *this;
  }
  template <class T>
  Json& field(std::string_view name, T v) {
    key(name);
    return value(v);
  }
  std::string take() { return std::move(text_); }

 private:
  void comma() {
    if (!first_) text_ += ',';
    first_ = false;
  }
  void string(std::string_view text) {
    text_ += '"';
    for (char c : text) {
      if (c == '"' || c == '\\') {
        text_ += '\\';
        text_ += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        char escaped[8];
        std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
        text_ += escaped;
      } else {
        text_ += c;
      }
    }
    text_ += '"';
  }

  std::string text_;
  bool first_ = true;
};

void write_upstream(Json& json, const Merged& upstream) {
  json.open('{')
      .field("name", std::string_view(upstream.name))
      .field("weight", uint64_t{upstream.weight})
      .field("state", state_of(upstream))
      .field("healthy", upstream.healthy)
      .field("ejected", upstream.ejected)
      .field("admin", upstream.drained ? "drained" : "enabled")
      .field("removed", upstream.removed)
      .field("weight_factor", upstream.weight_factor)
      .field("outstanding", uint64_t{upstream.outstanding})
      .field("requests", upstream.stats.requests)
      .field("retries", upstream.stats.retries)
      .field("successes", upstream.stats.successes)
      .field("failures", upstream.stats.failures)
      .field("ejections", upstream.stats.ejections)
      .field("connects", upstream.pool.connects)
      .field("reuses", upstream.pool.reuses)
      .field("reuse_ratio", upstream.pool.reuse_ratio())
      .field("connect_failures", upstream.pool.connect_failures)
      .field("queue_waits", upstream.pool.waits)
      .field("queue_timeouts", upstream.pool.wait_timeouts)
      .field("queue_full", upstream.pool.queue_full)
      .field("open_connections", uint64_t{upstream.open_connections})
      .field("idle_connections", uint64_t{upstream.idle_connections})
      .close('}');
}

http::Response json_response(int status, std::string body) {
  http::Response response(status);
  response.content_type("application/json").body(std::move(body) + "\n");
  return response;
}

}  // namespace

std::string upstreams_json(proxy::Mode mode, proxy::Algorithm balance,
                           const std::vector<LoopReport>& reports) {
  proxy::HttpProxyStats http;
  proxy::TcpProxyStats tcp;
  for (const LoopReport& report : reports) {
    http.requests += report.http.requests;
    http.retries += report.http.retries;
    http.retry_budget_refused += report.http.retry_budget_refused;
    http.status_502 += report.http.status_502;
    http.status_503 += report.http.status_503;
    http.status_504 += report.http.status_504;
    tcp.connections += report.tcp.connections;
    tcp.active += report.tcp.active;
    tcp.refused += report.tcp.refused;
    tcp.retries += report.tcp.retries;
    tcp.bytes_to_upstream += report.tcp.bytes_to_upstream;
    tcp.bytes_to_client += report.tcp.bytes_to_client;
  }
  for (const LoopReport& report : reports) {  // what the loops balance with now
    if (report.balance) balance = *report.balance;
  }
  bool is_tcp = mode == proxy::Mode::tcp;
  Json json;
  json.open('{')
      .field("mode", proxy::mode_name(mode))
      .field("balance", proxy::algorithm_name(balance))
      .field("loops", uint64_t{reports.size()})
      .field("requests", is_tcp ? tcp.connections : http.requests)
      .field("retries", is_tcp ? tcp.retries : http.retries)
      .field("retry_budget_refused", http.retry_budget_refused)
      .field("status_502", http.status_502)
      .field("status_503", http.status_503)
      .field("status_504", http.status_504);
  if (is_tcp) {
    json.field("connections", tcp.connections)
        .field("active", tcp.active)
        .field("refused", tcp.refused)
        .field("bytes_to_upstream", tcp.bytes_to_upstream)
        .field("bytes_to_client", tcp.bytes_to_client);
  }
  json.key("upstreams").open('[');
  for (const Merged& upstream : merge(reports)) write_upstream(json, upstream);
  json.close(']').close('}');
  return json.take();
}

std::optional<std::string> upstream_json(std::string_view name,
                                         const std::vector<LoopReport>& reports) {
  std::vector<Merged> merged = merge(reports);
  const Merged* found = nullptr;
  for (const Merged& upstream : merged) {
    if (upstream.name != name) continue;
    if (found == nullptr || found->removed) found = &upstream;
  }
  if (found == nullptr) return std::nullopt;
  Json json;
  write_upstream(json, *found);
  return json.take();
}

void add_upstream_routes(http::Router& router, const ServingLoops& loops, proxy::Mode mode,
                         proxy::Algorithm balance) {
  const ServingLoops* serving = &loops;
  router.get_async("/upstreams", [serving, mode, balance](const http::Request&,
                                                          http::Reply reply) {
    auto shared_reply = std::make_shared<http::Reply>(std::move(reply));
    // By value: the last loop may answer after the admin listener has been shut down.
    serving->gather(loop_report, [mode, balance, shared_reply](std::vector<LoopReport> reports) {
      shared_reply->send(json_response(200, upstreams_json(mode, balance, reports)));
    });
  });
  auto set_admin = [serving](proxy::AdminState state) {
    return [serving, state](const http::Request& request, http::Reply reply) {
      std::string name(request.param("name").value_or(""));
      auto shared_reply = std::make_shared<http::Reply>(std::move(reply));
      serving->gather(
          [name, state] {
            proxy::UpstreamTable* table = loop_upstream_table();
            bool found = table != nullptr && table->set_admin(name, state);
            LoopReport report = loop_report();
            report.found = found;
            return report;
          },
          [name, shared_reply](std::vector<LoopReport> reports) {
            bool found = std::any_of(reports.begin(), reports.end(),
                                     [](const LoopReport& r) { return r.found; });
            auto object = found ? upstream_json(name, reports) : std::nullopt;
            if (!object) {
              Json error;
              error.open('{').field("error", "no upstream named " + name).close('}');
              shared_reply->send(json_response(404, error.take()));
              return;
            }
            shared_reply->send(json_response(200, *object));
          });
    };
  };
  router.route_async(http::Method::post, "/upstreams/{name}/drain",
                     set_admin(proxy::AdminState::drained));
  router.route_async(http::Method::post, "/upstreams/{name}/enable",
                     set_admin(proxy::AdminState::enabled));
}

}  // namespace tern::apps
