// http::RouteLabel: a route's name in the HTTP metrics (its pattern, "/users/{id}") as a small
// integer, so that the response carries two bytes instead of a string and the loop's metrics
// find the route's histogram by index, not by comparing strings (issue 13: metrics cost at
// most 3% of a request's instructions). Names are interned once, when a router is built; the
// table is process-wide and only grows, up to kMaxRouteLabels (then kOtherRoute), so a label
// stays valid for the life of the process and means the same on every loop.
//
//   RouteLabel label = route_label("/users/{id}");   // at build time: takes a lock
//   response.route(label);                           // per request: a store
//   route_label_name(label) == "/users/{id}"         // at a scrape: takes a lock
//
// Thread rule: every function is callable from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tern::http {

using RouteLabel = uint16_t;

// Labels every program has, in this order: a response no router labelled, the router's own
// answers (no route for the path or the method), a middleware's answer, and the names past
// the table's bound.
inline constexpr RouteLabel kUnroutedRoute = 0;    // "unrouted"
inline constexpr RouteLabel kUnmatchedRoute = 1;   // "unmatched"
inline constexpr RouteLabel kMiddlewareRoute = 2;  // "middleware"
inline constexpr RouteLabel kOtherRoute = 3;       // "other"
// Bounds the table (a program that labels by something of the request's would otherwise grow
// it without end): names past it share kOtherRoute.
inline constexpr size_t kMaxRouteLabels = 1024;

// The label of `name`: the same number for the same name, a new one the first time. Any
// thread; takes a lock, so call it when building (a router's route()), not per request.
RouteLabel route_label(std::string_view name);

// The name of `label` ("unrouted" for a number never handed out). Any thread; takes a lock.
std::string route_label_name(RouteLabel label);

}  // namespace tern::http
