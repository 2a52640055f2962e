// The HTTP API of tern-kv over tern::store (docs/kv.md):
//
//   PUT    /kv/{key}             body = the value: 201 (the key was new) or 204; 413 too large
//   GET    /kv/{key}             200 with the value (application/octet-stream), 404
//   DELETE /kv/{key}             204, 404
//   GET    /kv?prefix=P&limit=N  200 {"keys":["a","b"]}: keys starting with P, in byte order
//   GET    /healthz              200 "ok" when the storage answers a probe in time, else 503
//
// A key is everything after "/kv/", percent-decoded (so "%2F" and "/" both put a slash in it):
// 1..max_key bytes, any byte but NUL (an encoded NUL is refused by the router). Errors are
// text/plain and say what happened: 400 for a bad key or query, 413 for a value over the limit,
// 503 with "Retry-After: 1" when the storage is unavailable, late or full (store::
// storage_side()), 500 for anything else.
//
// The handlers are asynchronous and run on the connection's loop, where that loop's Store
// lives (set_loop_store, from ServerOptions::on_loop_start): under the loop models they are
// called there; under hsha they are called on a worker and post themselves (with a copy of the
// request) to the connection's loop, as proxy_handler does.
//
// Thread rule: build the router on one thread; its handler is called from any thread.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "tern/http/router.h"
#include "tern/store/store.h"

namespace tern::apps {

struct KvRoutesOptions {
  size_t max_key = store::Limits{}.max_key;  // longer keys and prefixes: 400
  size_t default_scan_limit = 100;          // GET /kv without limit=
};

// The key GET /healthz reads as its probe: it begins with a NUL byte, which no key sent over
// HTTP can hold, so a probe never reads a client's key.
inline constexpr std::string_view kHealthProbeKey{"\0tern-kv:healthz", 16};

// Loop thread: the Store the handlers of this thread's loop use (null: none; they answer 503).
void set_loop_store(store::Store* store) noexcept;
store::Store* loop_store() noexcept;

http::Router kv_router(KvRoutesOptions options = {});

// {"keys":[...]}: each key a JSON string, '"', '\' and control characters escaped, valid UTF-8
// kept as it is, and every byte that is not part of valid UTF-8 written as \u00XX (its value).
// Any thread.
std::string keys_json(std::span<const std::string> keys);

}  // namespace tern::apps
