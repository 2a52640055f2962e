// http::Router: a table of routes, matched segment by segment against the request's path.
// Small tables are the rule (a service has tens of routes), so matching is a scan that keeps
// the best match; nothing is allocated unless a segment is percent-encoded.
#include "tern/http/router.h"

#include <array>
#include <memory>
#include <optional>
#include <utility>

#include "tern/http/route_label.h"
#include "tern/http/status.h"
#include "tern/http/uri.h"

namespace tern::http {
namespace {

constexpr size_t kMaxParams = 8;

struct Segment {
  enum class Kind : uint8_t { literal, param, rest };
  Kind kind;
  std::string text;  // the literal, or the param's name
};

std::vector<Segment> parse_pattern(std::string_view pattern) {
  std::vector<Segment> segments;
  if (!pattern.empty() && pattern.front() == '/') pattern.remove_prefix(1);
  for (;;) {
    size_t slash = pattern.find('/');
    std::string_view part = pattern.substr(0, slash);
    if (part.size() >= 3 && part.front() == '{' && part.back() == '}' && part[1] == '*') {
      segments.push_back({Segment::Kind::rest, std::string(part.substr(2, part.size() - 3))});
      break;  // {*name} is last: it takes the rest
    }
    if (part.size() >= 2 && part.front() == '{' && part.back() == '}') {
      segments.push_back({Segment::Kind::param, std::string(part.substr(1, part.size() - 2))});
    } else {
      segments.push_back({Segment::Kind::literal, std::string(part)});
    }
    if (slash == std::string_view::npos) break;
    pattern.remove_prefix(slash + 1);
  }
  return segments;
}

// A path segment as the handler sees it: decoded when it holds an escape.
bool decoded(std::string_view raw, std::string& storage, std::string_view& out) {
  if (raw.find('%') == std::string_view::npos) {
    out = raw;
    return true;
  }
  storage.clear();
  if (!percent_decode(raw, storage)) return false;
  out = storage;
  return true;
}

// An async route's reply, relayed so that its response carries the route's label (of its
// duration in the HTTP metrics): the handler answers through a Reply on this
// relay, which labels the response and hands it on to the connection's own reply. It keeps
// the connection's id (handlers post to reply.connection().loop), so it runs where the real
// reply would. It owns itself: freed once the answer, the stream's end or the drop has passed
// through (one small allocation per async request: the label cannot travel with the Reply
// itself without a field in the generic BasicReply and ReplyRoute::deliver).
class RouteLabelRelay final : public ReplyRoute<Response, std::string> {
 public:
  static Reply wrap(Reply inner, RouteLabel label) {
    ConnId id = inner.connection();
    auto relay = std::unique_ptr<RouteLabelRelay>(new RouteLabelRelay(std::move(inner), label));
    return Reply(relay.release(), id, 0);
  }

  void deliver(ConnId, uint64_t, std::optional<Response>&& response) override {
    std::unique_ptr<RouteLabelRelay> self(this);
    if (!response) return;  // dropped unanswered: so is the inner reply, with self
    label(*response);
    inner_.send(std::move(*response));
  }
  void stream_head(ConnId, uint64_t, Response&& head) override {
    label(head);
    stream_ = std::move(inner_).stream(std::move(head));
  }
  void stream_chunk(ConnId, uint64_t, std::string&& chunk) override {
    stream_.write(std::move(chunk));
  }
  void stream_end(ConnId, uint64_t, bool complete) override {
    std::unique_ptr<RouteLabelRelay> self(this);
    if (complete) stream_.end();  // else dropped with self: cut short
  }
  void stream_when_writable(ConnId, uint64_t, WritableCallback&& callback) override {
    stream_.when_writable(std::move(callback));
  }
  void read_body(ConnId, uint64_t, BodySink* sink) override { inner_.read_body(*sink); }

 private:
  RouteLabelRelay(Reply inner, RouteLabel label) : inner_(std::move(inner)), label_(label) {}
  void label(Response& response) const {
    if (response.route() == kUnroutedRoute) response.route(label_);
  }

  Reply inner_;
  Stream stream_;
  RouteLabel label_;
};

std::string_view allow_name(Method method) {
  return method == Method::delete_ ? std::string_view("DELETE") : method_name(method);
}

}  // namespace

struct Router::Table {
  struct Route {
    Method method;
    RouteLabel label;  // its pattern, as added, interned: the route's label in the metrics
    std::vector<Segment> segments;
    Sync sync;
    Async async;
  };
  // The params of the route that matched, on the stack of the thread that routes (not moved:
  // the params may view the decoded copies in `storage`).
  struct Match {
    std::array<Param, kMaxParams> params{};
    std::array<std::string, kMaxParams> storage{};
    size_t count = 0;
  };

  std::vector<Route> routes;
  std::vector<Middleware> middleware;

  // Walks `route` along `path`: the match's score (-1: no match), binding the params into
  // `match` when given. Literals score above params at the same depth, so "/users/me" beats
  // "/users/{id}", and both beat "/users/{*rest}". A {*rest} needs the slash before it:
  // "/kv/{*key}" matches "/kv/" (an empty rest) and "/kv/a/b", never "/kv"; so a tail covers
  // at least one segment more than its route's other segments, and a literal route beats a
  // tail route on any path both match.
  static int walk(const Route& route, std::string_view path, Match* match) {
    if (path.empty() || path.front() != '/') return -1;
    std::string_view rest = path.substr(1);
    bool path_ended = false;
    int score = 0;
    for (const Segment& segment : route.segments) {
      score *= 3;
      // The path ended before the route: "/kv" for "/kv/{id}", and for "/kv/{*key}" too (a
      // tail needs its slash).
      if (path_ended) return -1;
      if (segment.kind == Segment::Kind::rest) {
        if (match != nullptr && !bind(*match, segment.text, rest)) return -1;
        return score;
      }
      size_t slash = rest.find('/');
      std::string_view raw = rest.substr(0, slash);
      if (segment.kind == Segment::Kind::literal) {
        std::string scratch;
        std::string_view value;
        if (!decoded(raw, scratch, value) || value != segment.text) return -1;
        score += 2;
      } else {
        if (raw.empty()) return -1;
        if (match != nullptr && !bind(*match, segment.text, raw)) return -1;
        score += 1;
      }
      path_ended = slash == std::string_view::npos;
      rest = path_ended ? std::string_view{} : rest.substr(slash + 1);
    }
    return path_ended ? score : -1;  // else the path goes on past the route
  }

  // A sync route's answer, labelled. Built in place: the handler's result is the returned
  // object (one name, returned on every path: NRVO), and that is the parameter of
  // Reply::send (a prvalue): no move of the Response (a move and a destruction cost 2% of a
  // /plaintext request's instructions, measured with callgrind).
  static Response answer(const Route& route, const Request& request) {
    Response response = route.sync(request);
    if (response.route() == kUnroutedRoute) response.route(route.label);
    return response;
  }

  static bool bind(Match& match, const std::string& name, std::string_view raw) {
    if (match.count == kMaxParams) return false;
    std::string_view value;
    if (!decoded(raw, match.storage[match.count], value)) return false;
    match.params[match.count] = Param{name, value};
    ++match.count;
    return true;
  }

  void serve(const Request& request, Reply reply) const {
    for (const Middleware& m : middleware) {
      if (auto answer = m(request)) {
        reply.send(std::move(answer->route(kMiddlewareRoute)));
        return;
      }
    }
    const Route* best = nullptr;
    const Route* get_for_head = nullptr;
    int best_score = -1;
    int get_score = -1;
    bool path_known = false;
    for (const Route& route : routes) {
      int score = walk(route, request.path, nullptr);
      if (score < 0) continue;
      path_known = true;
      if (route.method == request.method && score > best_score) {
        best = &route;
        best_score = score;
      } else if (request.method == Method::head && route.method == Method::get &&
                 score > get_score) {
        get_for_head = &route;
        get_score = score;
      }
    }
    if (best == nullptr) best = get_for_head;
    if (best != nullptr) {
      Match match;
      if (walk(*best, request.path, &match) < 0) {
        // A param that does not decode.
        reply.send(std::move(Response::text(400, "Bad Request\n").route(best->label)));
        return;
      }
      Request routed = request;
      routed.params = std::span<const Param>(match.params.data(), match.count);
      if (best->sync) {
        reply.send(answer(*best, routed));
      } else {
        best->async(routed, RouteLabelRelay::wrap(std::move(reply), best->label));
      }
      return;
    }
    // No route for the method: the Allow field lists the methods of the path's routes (only
    // now: a matched request never pays for it).
    std::string allow;
    for (const Route& route : routes) {
      if (path_known && walk(route, request.path, nullptr) >= 0) add_allowed(allow, route.method);
    }
    if (request.method == Method::options && (path_known || request.target == "*")) {
      Response response(204);
      response.header("Allow", request.target == "*" ? all_methods() : allow);
      response.route(kUnmatchedRoute);
      reply.send(std::move(response));
      return;
    }
    if (path_known) {
      Response response = Response::text(405, "Method Not Allowed\n");
      response.header("Allow", allow);
      response.route(kUnmatchedRoute);
      reply.send(std::move(response));
      return;
    }
    reply.send(std::move(Response::text(404, "Not Found\n").route(kUnmatchedRoute)));
  }

  static void add_allowed(std::string& allow, Method method) {
    auto add = [&](std::string_view name) {
      for (size_t at = 0; at < allow.size();) {
        size_t comma = allow.find(", ", at);
        if (std::string_view(allow).substr(at, comma - at) == name) return;
        if (comma == std::string::npos) break;
        at = comma + 2;
      }
      if (!allow.empty()) allow += ", ";
      allow += name;
    };
    add(allow_name(method));
    if (method == Method::get) add("HEAD");
  }

  std::string all_methods() const {
    std::string allow;
    for (const Route& route : routes) add_allowed(allow, route.method);
    return allow;
  }
};

Router::Router() : table_(std::make_shared<Table>()) {}
Router::~Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;

Router& Router::route(Method method, std::string_view pattern, Sync handler) {
  table_->routes.push_back(
      {method, route_label(pattern), parse_pattern(pattern), std::move(handler), {}});
  return *this;
}

Router& Router::route_async(Method method, std::string_view pattern, Async handler) {
  table_->routes.push_back(
      {method, route_label(pattern), parse_pattern(pattern), {}, std::move(handler)});
  return *this;
}

Router& Router::use(Middleware middleware) {
  table_->middleware.push_back(std::move(middleware));
  return *this;
}

Handler Router::handler() const {
  std::shared_ptr<const Table> table = table_;
  return Handler::async([table](const Request& request, Reply reply) {
    table->serve(request, std::move(reply));
  });
}

Service service(Handler handler, ProtocolOptions options) {
  return Service::of<Protocol>(std::move(options), std::move(handler));
}

}  // namespace tern::http
