#include "kv_routes.h"

#include <charconv>
#include <functional>
#include <optional>
#include <utility>
#include <variant>

#include "tern/http/uri.h"
#include "tern/loop/loop_handle.h"

namespace tern::apps {
namespace {

thread_local store::Store* store_of_this_loop = nullptr;

using Action = std::function<void(store::Store&, const http::Request&, http::Reply)>;

// The status, and text, of a failed storage operation.
http::Response failure(std::error_code error) {
  if (store::storage_side(error)) {
    // The storage's state, not the request's fault: the client (or the access server) may try
    // again, here or on another logic server.
    http::Response response = http::Response::text(503, "storage: " + error.message() + "\n");
    response.header("Retry-After", "1");
    return response;
  }
  if (error == store::errc::bad_key) return http::Response::text(400, "bad key\n");
  if (error == store::errc::too_large) {
    return http::Response::text(413, "value larger than the limit\n");
  }
  return http::Response::text(500, "storage failed: " + error.message() + "\n");
}

// A loop without a Store: one that is stopping (or a model without loops).
http::Response no_store_here() {
  http::Response response = http::Response::text(503, "no storage on this loop\n");
  response.header("Retry-After", "1");
  return response;
}

// Runs `action` with the Store of the connection's loop: at once when called there (the loop
// models), else in a task posted to that loop with a copy of the request (hsha's workers).
void on_store(const http::Request& request, http::Reply reply, const Action& action) {
  if (store::Store* store = loop_store()) {
    action(*store, request, std::move(reply));
    return;
  }
  LoopHandle loop = reply.connection().loop;
  if (!loop.valid() || runs_here(loop)) {
    reply.send(no_store_here());
    return;
  }
  post_to(loop, [owned = http::OwnedRequest(request), reply = std::move(reply), action]() mutable {
    if (store::Store* store = loop_store()) {
      action(*store, owned.view(), std::move(reply));
      return;
    }
    reply.send(no_store_here());
  });
}

// The request's key, or the 400 that says what is wrong with it.
std::optional<http::Response> bad_key(std::string_view key, const KvRoutesOptions& options) {
  if (key.empty()) return http::Response::text(400, "empty key: PUT, GET or DELETE /kv/KEY\n");
  if (key.size() > options.max_key) {
    return http::Response::text(
        400, "key longer than " + std::to_string(options.max_key) + " bytes\n");
  }
  return std::nullopt;
}

void get_value(store::Store& store, std::string_view key, http::Reply reply) {
  store.get(key, [reply = std::move(reply)](Result<std::optional<std::string>> value) mutable {
    if (!value) return reply.send(failure(value.error()));
    if (!*value) return reply.send(http::Response::text(404, "no such key\n"));
    reply.send(http::Response(200)
                   .content_type("application/octet-stream")
                   .body(std::move(**value)));
  });
}

void put_value(store::Store& store, std::string_view key, std::string_view value,
               http::Reply reply) {
  store.put(key, value, [reply = std::move(reply)](Result<bool> created) mutable {
    if (!created) return reply.send(failure(created.error()));
    reply.send(http::Response(*created ? 201 : 204));
  });
}

void remove_value(store::Store& store, std::string_view key, http::Reply reply) {
  store.remove(key, [reply = std::move(reply)](Result<bool> existed) mutable {
    if (!existed) return reply.send(failure(existed.error()));
    if (!*existed) return reply.send(http::Response::text(404, "no such key\n"));
    reply.send(http::Response(204));
  });
}

// prefix= and limit= of a query ("prefix=a%2Fb&limit=10"); other parameters are ignored.
struct ScanQuery {
  std::string prefix;
  size_t limit = 0;
};

std::optional<size_t> parse_limit(std::string_view text) {
  size_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value == 0) return std::nullopt;
  return value;
}

// The query's prefix and limit, or the 400 that says what is wrong.
std::variant<ScanQuery, http::Response> parse_scan_query(std::string_view query,
                                                         const KvRoutesOptions& options) {
  ScanQuery scan{.prefix = {}, .limit = options.default_scan_limit};
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    size_t eq = pair.find('=');
    std::string_view name = pair.substr(0, eq);
    std::string_view raw = eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    if (name == "prefix") {
      scan.prefix.clear();
      if (!http::percent_decode(raw, scan.prefix, /*plus_is_space=*/true)) {
        return http::Response::text(400, "prefix: bad percent-encoding (or an encoded NUL)\n");
      }
      if (scan.prefix.size() > options.max_key) {
        return http::Response::text(
            400, "prefix longer than " + std::to_string(options.max_key) + " bytes\n");
      }
    } else if (name == "limit") {
      auto limit = parse_limit(raw);
      if (!limit) return http::Response::text(400, "limit: expected a positive integer\n");
      scan.limit = *limit;
    }
  }
  return scan;
}

void list_keys(store::Store& store, const http::Request& request, http::Reply reply,
               const KvRoutesOptions& options) {
  auto query = parse_scan_query(request.query, options);
  if (auto* refusal = std::get_if<http::Response>(&query)) return reply.send(std::move(*refusal));
  const ScanQuery& scan = std::get<ScanQuery>(query);
  store.scan(scan.prefix, scan.limit,
             [reply = std::move(reply)](Result<std::vector<std::string>> keys) mutable {
               if (!keys) return reply.send(failure(keys.error()));
               reply.send(http::Response(200)
                              .content_type("application/json")
                              .body(keys_json(*keys)));
             });
}

void probe(store::Store& store, http::Reply reply) {
  // A read of a key no client can write: it goes through the whole storage path (queue,
  // thread or connection, deadline) and changes nothing.
  store.get(kHealthProbeKey,
            [reply = std::move(reply)](Result<std::optional<std::string>> value) mutable {
              if (!value) return reply.send(failure(value.error()));
              reply.send(http::Response::text(200, "ok\n"));
            });
}

// The length of the valid UTF-8 sequence at the start of `text` (1..4), or 0 when its first
// byte does not start one (overlong forms, surrogates and code points past U+10FFFF included).
size_t utf8_sequence(std::string_view text) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  size_t length = lead >= 0xC2 && lead <= 0xDF   ? 2
                  : lead >= 0xE0 && lead <= 0xEF ? 3
                  : lead >= 0xF0 && lead <= 0xF4 ? 4
                                                 : 0;
  if (length == 0 || text.size() < length) return 0;
  unsigned char low = 0x80, high = 0xBF;  // the second byte's range
  if (lead == 0xE0) low = 0xA0;           // overlong
  if (lead == 0xED) high = 0x9F;          // surrogates
  if (lead == 0xF0) low = 0x90;           // overlong
  if (lead == 0xF4) high = 0x8F;          // past U+10FFFF
  if (byte(1) < low || byte(1) > high) return 0;
  for (size_t i = 2; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
  }
  return length;
}

void append_json_string(std::string_view text, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto escape_byte = [&](unsigned char c) {
    out += "\\u00";
    out += kHex[c >> 4];
    out += kHex[c & 0xF];
  };
  out += '"';
  while (!text.empty()) {
    auto c = static_cast<unsigned char>(text.front());
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      text.remove_prefix(1);
    } else if (c < 0x20 || c == 0x7F) {
      escape_byte(c);
      text.remove_prefix(1);
    } else if (size_t length = utf8_sequence(text); length > 0) {
      out += text.substr(0, length);
      text.remove_prefix(length);
    } else {
      escape_byte(c);
      text.remove_prefix(1);
    }
  }
  out += '"';
}

}  // namespace

void set_loop_store(store::Store* store) noexcept { store_of_this_loop = store; }
store::Store* loop_store() noexcept { return store_of_this_loop; }

std::string keys_json(std::span<const std::string> keys) {
  std::string out = "{\"keys\":[";
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i > 0) out += ',';
    append_json_string(keys[i], out);
  }
  out += "]}";
  return out;
}

http::Router kv_router(KvRoutesOptions options) {
  http::Router router;
  Action get = [options](store::Store& store, const http::Request& request, http::Reply reply) {
    std::string_view key = request.param("key").value_or("");
    if (auto refusal = bad_key(key, options)) return reply.send(std::move(*refusal));
    get_value(store, key, std::move(reply));
  };
  Action put = [options](store::Store& store, const http::Request& request, http::Reply reply) {
    std::string_view key = request.param("key").value_or("");
    if (auto refusal = bad_key(key, options)) return reply.send(std::move(*refusal));
    put_value(store, key, request.body, std::move(reply));
  };
  Action remove = [options](store::Store& store, const http::Request& request,
                            http::Reply reply) {
    std::string_view key = request.param("key").value_or("");
    if (auto refusal = bad_key(key, options)) return reply.send(std::move(*refusal));
    remove_value(store, key, std::move(reply));
  };
  Action list = [options](store::Store& store, const http::Request& request, http::Reply reply) {
    list_keys(store, request, std::move(reply), options);
  };
  Action health = [](store::Store& store, const http::Request&, http::Reply reply) {
    probe(store, std::move(reply));
  };
  // Each route's handler finds the Store of the connection's loop first (on_store).
  auto on_loop = [](Action action) {
    return [action = std::move(action)](const http::Request& request, http::Reply reply) {
      on_store(request, std::move(reply), action);
    };
  };
  // "/kv" is the list only: "/kv/{*key}" needs its slash, so PUT or DELETE on "/kv" gets the
  // router's 405 with "Allow: GET, HEAD".
  router.route_async(http::Method::get, "/kv", on_loop(list));
  router.route_async(http::Method::get, "/kv/{*key}", on_loop(get));
  router.route_async(http::Method::put, "/kv/{*key}", on_loop(put));
  router.route_async(http::Method::delete_, "/kv/{*key}", on_loop(remove));
  router.route_async(http::Method::get, "/healthz", on_loop(health));
  return router;
}

}  // namespace tern::apps
