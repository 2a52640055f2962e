// The cluster form's storage: a Redis server ("redis://HOST:PORT") or a Redis Cluster
// ("redis-cluster://HOST:PORT,..."), reached by one RESP client per loop (RedisStore,
// redis_store.h). open_storage() (open_storage.cc) calls make_redis_storage for those URLs.
//
// Nothing connects when the storage is made: each loop's client connects on its first
// operation (and again, with backoff, while the server is down), so a server that is not up
// yet when the program starts is not an error; its operations fail with unavailable until it
// is.
//
// Thread rule: make_redis_storage any thread; the Storage's own rule (store.h): attach() on
// each loop's thread, describe() any thread.
#pragma once

#include <memory>
#include <string>

#include "tern/store/store.h"

namespace tern::store {

// The storage `config.url` names, or nullptr with `why` saying what is wrong with the URL or
// the configuration (a database other than 0 for a cluster, a zero deadline or queue).
std::unique_ptr<Storage> make_redis_storage(const StorageConfig& config, std::string& why);

}  // namespace tern::store
