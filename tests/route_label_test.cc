// http::RouteLabel (tern/http/route_label.h): names interned once, the same number for the
// same name on every thread, the fixed labels first, and a bounded table. In its own test
// binary: the bound test fills the process-wide table, which would change other tests' labels.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "tern/http/response.h"
#include "tern/http/route_label.h"

namespace tern::http {
namespace {

TEST(RouteLabel, FixedLabelsHaveTheirNames) {
  EXPECT_EQ(route_label_name(kUnroutedRoute), "unrouted");
  EXPECT_EQ(route_label_name(kUnmatchedRoute), "unmatched");
  EXPECT_EQ(route_label_name(kMiddlewareRoute), "middleware");
  EXPECT_EQ(route_label_name(kOtherRoute), "other");
  EXPECT_EQ(route_label("unmatched"), kUnmatchedRoute);
}

TEST(RouteLabel, TheSameNameGetsTheSameNumberOnEveryThread) {
  RouteLabel users = route_label("/users/{id}");
  RouteLabel items = route_label("/items");
  EXPECT_NE(users, items);
  EXPECT_GT(users, kOtherRoute);
  EXPECT_EQ(route_label_name(users), "/users/{id}");
  RouteLabel elsewhere = kUnroutedRoute;
  std::thread([&] { elsewhere = route_label("/users/{id}"); }).join();
  EXPECT_EQ(elsewhere, users);
}

TEST(RouteLabel, AResponseLabelledByNameCarriesTheNumber) {
  Response response(200);
  EXPECT_EQ(response.route(), kUnroutedRoute);
  response.route("/by/name");
  EXPECT_EQ(response.route(), route_label("/by/name"));
  EXPECT_EQ(route_label_name(response.route()), "/by/name");
}

TEST(RouteLabel, NamesPastTheBoundShareOther) {
  std::vector<RouteLabel> labels;
  for (size_t i = 0; i < kMaxRouteLabels + 10; ++i) {
    labels.push_back(route_label("/bound/" + std::to_string(i)));
  }
  EXPECT_EQ(labels.back(), kOtherRoute);
  EXPECT_EQ(route_label("/bound/another"), kOtherRoute);
  // The names given before the bound keep their numbers.
  EXPECT_EQ(route_label_name(labels.front()), "/bound/0");
  EXPECT_EQ(route_label("/bound/0"), labels.front());
  EXPECT_EQ(route_label_name(kMaxRouteLabels + 5), "unrouted");  // never handed out
}

}  // namespace
}  // namespace tern::http
