// PooledClientOptions: the bounds of a PooledClient (pooled_client.h): its pool, the time an
// answer may take, the requests outstanding on one connection and those waiting for one.
// http::ClientOptions and redis::ClientOptions are turned into it.
//
// Thread rule: plain data; any thread on its own copy.
#pragma once

#include <cstddef>

#include "tern/base/clock.h"
#include "tern/net/connection_pool.h"

namespace tern {

struct PooledClientOptions {
  // max_connections is the pool size; connect.timeout the timeout of one connect; wait_timeout
  // the total a checkout may wait; idle_timeout how long an unused connection is kept.
  ConnectionPoolOptions pool{};
  // From a request's send (or the answer before it on its connection) to its whole answer;
  // zero: none.
  Duration response_timeout{};
  size_t pipelining = 1;     // requests outstanding on one connection; 0 counts as 1
  size_t max_queued = 1024;  // requests that may wait for a connection; more: queue_full
};

}  // namespace tern
