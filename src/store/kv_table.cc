// KvTable: the SQL of the embedded storage.
#include "store/kv_table.h"

#include <sqlite3.h>

namespace tern::store {
namespace {

// Resets the statement on every path out of a method (the next use starts clean, and a reset
// releases the read lock a SELECT holds).
class ResetOnExit {
 public:
  explicit ResetOnExit(SqliteStatement& statement) : statement_(statement) {}
  ~ResetOnExit() { statement_.reset(); }
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;

 private:
  SqliteStatement& statement_;
};

}  // namespace

std::optional<KvTable> KvTable::open(SqliteDatabase& db, std::string& why) {
  if (!db.exec("CREATE TABLE IF NOT EXISTS kv(key BLOB PRIMARY KEY, value BLOB NOT NULL) "
               "WITHOUT ROWID",
               why)) {
    return std::nullopt;
  }
  KvTable table(db);
  struct {
    SqliteStatement* statement;
    const char* sql;
  } statements[] = {
      {&table.select_, "SELECT value FROM kv WHERE key = ?1"},
      {&table.update_, "UPDATE kv SET value = ?2 WHERE key = ?1"},
      {&table.insert_, "INSERT INTO kv(key, value) VALUES(?1, ?2)"},
      {&table.delete_, "DELETE FROM kv WHERE key = ?1"},
      {&table.scan_bounded_,
       "SELECT key FROM kv WHERE key >= ?1 AND key < ?2 ORDER BY key LIMIT ?3"},
      {&table.scan_open_, "SELECT key FROM kv WHERE key >= ?1 ORDER BY key LIMIT ?3"},
  };
  for (auto& [statement, sql] : statements) {
    *statement = db.prepare(sql, why);
    if (!*statement) return std::nullopt;
  }
  return table;
}

bool KvTable::get(std::string_view key, std::optional<std::string>& found) {
  ResetOnExit reset(select_);
  select_.bind_blob(1, key);
  int rc = select_.step();
  if (rc == SQLITE_ROW) {
    found.emplace(select_.column_blob(0));
    return true;
  }
  found.reset();
  return rc == SQLITE_DONE;
}

// UPDATE first: the common case of a web store is overwriting, and changes() says whether the
// key existed, which the caller needs (201 against 204) and an upsert would not tell.
bool KvTable::put(std::string_view key, std::string_view value, bool& created) {
  {
    ResetOnExit reset(update_);
    update_.bind_blob(1, key);
    update_.bind_blob(2, value);
    if (update_.step() != SQLITE_DONE) return false;
    if (db_->changes() > 0) {
      created = false;
      return true;
    }
  }
  ResetOnExit reset(insert_);
  insert_.bind_blob(1, key);
  insert_.bind_blob(2, value);
  if (insert_.step() != SQLITE_DONE) return false;
  created = true;
  return true;
}

bool KvTable::remove(std::string_view key, bool& existed) {
  ResetOnExit reset(delete_);
  delete_.bind_blob(1, key);
  if (delete_.step() != SQLITE_DONE) return false;
  existed = db_->changes() > 0;
  return true;
}

bool KvTable::scan(std::string_view prefix, size_t limit, std::vector<std::string>& keys) {
  keys.clear();
  std::optional<std::string> end = prefix_end(prefix);
  SqliteStatement& statement = end ? scan_bounded_ : scan_open_;
  ResetOnExit reset(statement);
  statement.bind_blob(1, prefix);
  if (end) statement.bind_blob(2, *end);
  statement.bind_int(3, static_cast<long long>(limit));
  for (;;) {
    int rc = statement.step();
    if (rc == SQLITE_DONE) return true;
    if (rc != SQLITE_ROW) return false;
    keys.emplace_back(statement.column_blob(0));
  }
}

bool KvTable::apply(const std::vector<Write>& writes) {
  for (const Write& write : writes) {
    bool ignored = false;
    bool ok = write.kind == Write::Kind::put ? put(write.key, write.value, ignored)
                                             : remove(write.key, ignored);
    if (!ok) return false;
  }
  return true;
}

std::optional<std::string> KvTable::prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xFF) end.pop_back();
  if (end.empty()) return std::nullopt;
  end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

}  // namespace tern::store
