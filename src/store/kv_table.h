// KvTable: the table kv(key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID and the
// prepared statements the storage thread runs on it. Keys compare as blobs (memcmp), so a scan
// returns keys in byte order.
//
// Thread rule: the thread that owns the database (the storage thread). Every method returns
// false on an SQLite error (the database's last_error() says which) and leaves the statement
// reset.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/sqlite_database.h"
#include "tern/store/store.h"

namespace tern::store {

class KvTable {
 public:
  // Creates the table if it is missing and prepares the statements; nullopt with `why` set on
  // an error. `db` must outlive the table.
  static std::optional<KvTable> open(SqliteDatabase& db, std::string& why);

  bool get(std::string_view key, std::optional<std::string>& found);
  bool put(std::string_view key, std::string_view value, bool& created);
  bool remove(std::string_view key, bool& existed);
  bool scan(std::string_view prefix, size_t limit, std::vector<std::string>& keys);
  bool apply(const std::vector<Write>& writes);

  // The smallest key greater than every key starting with `prefix` (the prefix with its last
  // byte below 0xFF incremented and what follows dropped); nullopt when there is none
  // (empty, or only 0xFF bytes). Pure; public for the tests.
  static std::optional<std::string> prefix_end(std::string_view prefix);

 private:
  explicit KvTable(SqliteDatabase& db) : db_(&db) {}
  SqliteDatabase* db_;
  SqliteStatement select_;
  SqliteStatement update_;
  SqliteStatement insert_;
  SqliteStatement delete_;
  SqliteStatement scan_bounded_;
  SqliteStatement scan_open_;
};

}  // namespace tern::store
