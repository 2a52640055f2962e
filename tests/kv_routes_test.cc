// tern-kv's HTTP API (apps/kv/kv_routes.h) over a test Store: statuses, bodies, keys as the
// router decodes them, the scan query and its JSON, and how each storage error is answered.
// The process tests (tern_kv_test.cc) run the same API on the real storage; this one reaches
// the cases a real storage cannot be made to produce on demand (every error code).
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kv_routes.h"
#include "tern/http/router.h"

namespace tern::apps {
namespace {

using namespace std::string_literals;

// A Store in a std::map that completes every call before it returns (the interface allows it)
// or fails it with `failure` when that is set.
class MapStore final : public store::Store {
 public:
  std::map<std::string, std::string> data;
  std::error_code failure;
  std::string last_prefix;
  size_t last_limit = 0;
  std::vector<std::string> got;  // keys read, in order

  void get(std::string_view key, GetCallback done) override {
    got.emplace_back(key);
    if (failure) return done(failure);
    auto it = data.find(std::string(key));
    done(it == data.end() ? std::optional<std::string>() : std::optional(it->second));
  }
  void put(std::string_view key, std::string_view value, PutCallback done) override {
    if (failure) return done(failure);
    bool created = data.insert_or_assign(std::string(key), std::string(value)).second;
    done(created);
  }
  void remove(std::string_view key, RemoveCallback done) override {
    if (failure) return done(failure);
    done(data.erase(std::string(key)) > 0);
  }
  void scan(std::string_view prefix, size_t limit, ScanCallback done) override {
    last_prefix = prefix;
    last_limit = limit;
    if (failure) return done(failure);
    std::vector<std::string> keys;
    for (auto it = data.lower_bound(std::string(prefix));
         it != data.end() && it->first.starts_with(prefix) && keys.size() < limit; ++it) {
      keys.push_back(it->first);
    }
    done(std::move(keys));
  }
  void batch(std::vector<store::Write>, BatchCallback done) override {
    done(make_error_code(store::errc::unavailable));
  }
  store::StoreStats stats() const override { return {}; }
};

// Where the replies of the test's requests land (ConnId without a loop: delivered at once).
class CapturingRoute final : public ReplyRoute<http::Response, std::string> {
 public:
  std::vector<std::optional<http::Response>> delivered;

  void deliver(ConnId, uint64_t, std::optional<http::Response>&& response) override {
    delivered.push_back(std::move(response));
  }
  void stream_head(ConnId, uint64_t, http::Response&&) override { ADD_FAILURE() << "stream"; }
  void stream_chunk(ConnId, uint64_t, std::string&&) override {}
  void stream_end(ConnId, uint64_t, bool) override {}
  void stream_when_writable(ConnId, uint64_t, WritableCallback&&) override {}
};

struct Answer {
  int status = 0;
  std::string fields;
  std::string content_type;
  std::string body;

  bool has_field(std::string_view line) const { return fields.find(line) != std::string::npos; }
};

class KvRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override { set_loop_store(&store_); }
  void TearDown() override { set_loop_store(nullptr); }

  // One request through the router; its one answer (status 0 when none came).
  Answer serve(http::Method method, std::string_view target, std::string_view body = "") {
    http::Request request;
    request.method = method;
    request.target = target;
    size_t question = target.find('?');
    request.path = target.substr(0, question);
    request.query = question == std::string_view::npos ? "" : target.substr(question + 1);
    request.body = body;
    size_t before = route_.delivered.size();
    handler_(request, http::Reply(&route_, ConnId{}, ++sequence_));
    if (route_.delivered.size() != before + 1 || !route_.delivered.back()) {
      ADD_FAILURE() << "no single answer to " << target;
      return {};
    }
    http::Response& response = *route_.delivered.back();
    Answer answer;
    answer.status = response.status_code();
    answer.fields = std::string(response.fields());
    answer.content_type = std::string(response.content_type_line());
    answer.body = response.body_kind() == http::Response::BodyKind::owned
                      ? response.owned_body()
                      : std::string(response.constant_body());
    return answer;
  }
  Answer put(std::string_view target, std::string_view body) {
    return serve(http::Method::put, target, body);
  }
  Answer get(std::string_view target) { return serve(http::Method::get, target); }
  Answer del(std::string_view target) { return serve(http::Method::delete_, target); }

  MapStore store_;
  CapturingRoute route_;
  http::Handler handler_ = kv_router().handler();
  uint64_t sequence_ = 0;
};

TEST_F(KvRoutesTest, PutCreatesThenReplacesAndGetReturnsTheBytes) {
  std::string value = "bin\0ary\xff\x80"s;
  EXPECT_EQ(put("/kv/k1", value).status, 201);
  EXPECT_EQ(put("/kv/k1", value + "2").status, 204);
  Answer got = get("/kv/k1");
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.body, value + "2");
  EXPECT_NE(got.content_type.find("application/octet-stream"), std::string::npos)
      << got.content_type;
  EXPECT_EQ(store_.data.at("k1"), value + "2");
}

TEST_F(KvRoutesTest, MissingKeyIs404AndDeleteIs204Then404) {
  EXPECT_EQ(get("/kv/nothing").status, 404);
  ASSERT_EQ(put("/kv/gone", "x").status, 201);
  EXPECT_EQ(del("/kv/gone").status, 204);
  EXPECT_EQ(del("/kv/gone").status, 404);
  EXPECT_EQ(get("/kv/gone").status, 404);
}

TEST_F(KvRoutesTest, KeysArePercentDecodedAndMayHoldSlashes) {
  ASSERT_EQ(put("/kv/a%2Fb%20c", "1").status, 201);
  EXPECT_EQ(store_.data.count("a/b c"), 1u);
  // The unencoded form names the same key.
  EXPECT_EQ(put("/kv/a/b%20c", "2").status, 204);
  EXPECT_EQ(get("/kv/a%2fb%20c").body, "2");
}

TEST_F(KvRoutesTest, BadKeysAre400AndReachNoStorage) {
  EXPECT_EQ(put("/kv/", "x").status, 400);
  EXPECT_EQ(get("/kv/").status, 400);
  EXPECT_EQ(del("/kv/").status, 400);
  std::string longest(512, 'k');
  EXPECT_EQ(put("/kv/" + longest, "x").status, 201);
  Answer too_long = put("/kv/" + longest + "k", "x");
  EXPECT_EQ(too_long.status, 400);
  EXPECT_NE(too_long.body.find("512"), std::string::npos) << too_long.body;
  EXPECT_EQ(put("/kv/a%00b", "x").status, 400);  // an encoded NUL
  EXPECT_EQ(put("/kv/a%zz", "x").status, 400);   // a broken escape
  EXPECT_EQ(store_.data.size(), 1u);
}

TEST_F(KvRoutesTest, WritesOnTheListPathAre405) {
  Answer answer = put("/kv", "x");
  EXPECT_EQ(answer.status, 405);
  EXPECT_TRUE(answer.has_field("Allow: GET, HEAD")) << answer.fields;
  EXPECT_EQ(del("/kv").status, 405);
}

TEST_F(KvRoutesTest, ScanListsKeysWithThePrefixUpToTheLimitAsJson) {
  for (const char* key : {"a", "ab", "abc", "b", "a/x"}) ASSERT_EQ(put("/kv/"s + key, "v").status, 201);
  Answer all = get("/kv");
  EXPECT_EQ(all.status, 200);
  EXPECT_EQ(all.body, R"({"keys":["a","a/x","ab","abc","b"]})");
  EXPECT_NE(all.content_type.find("application/json"), std::string::npos);
  EXPECT_EQ(store_.last_limit, 100u);  // the default
  Answer some = get("/kv?prefix=ab&limit=1");
  EXPECT_EQ(some.body, R"({"keys":["ab"]})");
  EXPECT_EQ(store_.last_limit, 1u);
  EXPECT_EQ(get("/kv?limit=2&prefix=a%2F").body, R"({"keys":["a/x"]})");
  EXPECT_EQ(get("/kv?prefix=zzz").body, R"({"keys":[]})");
  EXPECT_EQ(get("/kv?prefix=a+b").status, 200);
  EXPECT_EQ(store_.last_prefix, "a b");  // '+' is a space in a query
}

TEST_F(KvRoutesTest, BadScanQueriesAre400) {
  EXPECT_EQ(get("/kv?limit=0").status, 400);
  EXPECT_EQ(get("/kv?limit=ten").status, 400);
  EXPECT_EQ(get("/kv?limit=-1").status, 400);
  EXPECT_EQ(get("/kv?prefix=%zz").status, 400);
  EXPECT_EQ(get("/kv?prefix=" + std::string(513, 'p')).status, 400);
}

TEST_F(KvRoutesTest, StorageSideErrorsAre503WithRetryAfter) {
  for (store::errc error : {store::errc::unavailable, store::errc::timeout,
                            store::errc::overloaded, store::errc::closed}) {
    store_.failure = make_error_code(error);
    for (Answer answer : {get("/kv/k"), put("/kv/k", "v"), del("/kv/k"), get("/kv")}) {
      EXPECT_EQ(answer.status, 503) << store_.failure.message();
      EXPECT_TRUE(answer.has_field("Retry-After: 1\r\n")) << answer.fields;
      EXPECT_NE(answer.body.find(store_.failure.message()), std::string::npos) << answer.body;
    }
  }
}

TEST_F(KvRoutesTest, RequestSideErrorsKeepTheirStatus) {
  store_.failure = make_error_code(store::errc::too_large);
  EXPECT_EQ(put("/kv/k", "v").status, 413);
  store_.failure = make_error_code(store::errc::bad_key);
  EXPECT_EQ(get("/kv/k").status, 400);
  store_.failure = std::make_error_code(std::errc::io_error);  // none of the store's own
  EXPECT_EQ(get("/kv/k").status, 500);
}

TEST_F(KvRoutesTest, HealthzProbesTheStorageWithTheReservedKey) {
  Answer ok = get("/healthz");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "ok\n");
  ASSERT_FALSE(store_.got.empty());
  EXPECT_EQ(store_.got.back(), kHealthProbeKey);
  store_.failure = make_error_code(store::errc::timeout);
  Answer down = get("/healthz");
  EXPECT_EQ(down.status, 503);
  EXPECT_TRUE(down.has_field("Retry-After: 1\r\n"));
}

TEST_F(KvRoutesTest, NoStoreOnTheThreadIs503) {
  set_loop_store(nullptr);
  Answer answer = get("/kv/k");
  EXPECT_EQ(answer.status, 503);
  EXPECT_TRUE(answer.has_field("Retry-After: 1\r\n")) << answer.fields;
  EXPECT_EQ(get("/healthz").status, 503);
}

TEST_F(KvRoutesTest, UnknownPathsAre404) {
  EXPECT_EQ(get("/").status, 404);
  EXPECT_EQ(get("/kvx").status, 404);
}

TEST(KeysJson, EscapesWhatJsonNeedsAndBytesThatAreNotUtf8) {
  std::vector<std::string> keys = {
      "plain",
      "quote\"back\\slash",
      "ctl\x01\n\x7f",
      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",  // valid UTF-8: kept
      "bad\xff\xc3",                               // a stray byte, a cut sequence
      "\xc0\x80\xed\xa0\x80\xf4\x90\x80\x80",     // overlong NUL, surrogate, past U+10FFFF
  };
  EXPECT_EQ(keys_json(keys),
            "{\"keys\":[\"plain\",\"quote\\\"back\\\\slash\",\"ctl\\u0001\\u000a\\u007f\","
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\",\"bad\\u00ff\\u00c3\","
            "\"\\u00c0\\u0080\\u00ed\\u00a0\\u0080\\u00f4\\u0090\\u0080\\u0080\"]}");
  EXPECT_EQ(keys_json({}), R"({"keys":[]})");
}

}  // namespace
}  // namespace tern::apps
