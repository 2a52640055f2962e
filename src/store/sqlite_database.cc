// SqliteDatabase and SqliteStatement: thin RAII over the SQLite C API.
#include "store/sqlite_database.h"

#include <sqlite3.h>

#include <utility>

namespace tern::store {

SqliteStatement::SqliteStatement(SqliteStatement&& other) noexcept
    : statement_(std::exchange(other.statement_, nullptr)) {}

SqliteStatement& SqliteStatement::operator=(SqliteStatement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(statement_);
    statement_ = std::exchange(other.statement_, nullptr);
  }
  return *this;
}

SqliteStatement::~SqliteStatement() { sqlite3_finalize(statement_); }

bool SqliteStatement::bind_blob(int index, std::string_view blob) noexcept {
  // A null pointer would bind SQL NULL: an empty value is a zero-length blob instead.
  const void* bytes = blob.empty() ? static_cast<const void*>("") : blob.data();
  return sqlite3_bind_blob64(statement_, index, bytes, blob.size(), SQLITE_STATIC) == SQLITE_OK;
}

bool SqliteStatement::bind_int(int index, long long value) noexcept {
  return sqlite3_bind_int64(statement_, index, value) == SQLITE_OK;
}

int SqliteStatement::step() noexcept { return sqlite3_step(statement_); }

std::string_view SqliteStatement::column_blob(int index) noexcept {
  const void* bytes = sqlite3_column_blob(statement_, index);
  int size = sqlite3_column_bytes(statement_, index);  // after column_blob, as SQLite asks
  if (bytes == nullptr || size <= 0) return {};
  return {static_cast<const char*>(bytes), static_cast<size_t>(size)};
}

void SqliteStatement::reset() noexcept {
  sqlite3_reset(statement_);
  sqlite3_clear_bindings(statement_);
}

SqliteDatabase SqliteDatabase::open(const std::string& path, bool read_only, std::string& why) {
  sqlite3* db = nullptr;
  int flags = (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
              SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    why = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return SqliteDatabase();
  }
  sqlite3_extended_result_codes(db, 1);
  return SqliteDatabase(db);
}

SqliteDatabase::SqliteDatabase(SqliteDatabase&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)) {}

SqliteDatabase& SqliteDatabase::operator=(SqliteDatabase&& other) noexcept {
  if (this != &other) {
    sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

// close_v2: statements still alive keep the connection until they are finalized, so the
// destruction order of the members that hold them does not matter.
SqliteDatabase::~SqliteDatabase() { sqlite3_close_v2(db_); }

bool SqliteDatabase::exec(const char* sql, std::string& why) noexcept {
  char* message = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return true;
  why = message != nullptr ? message : sqlite3_errstr(rc);
  sqlite3_free(message);
  return false;
}

std::string SqliteDatabase::query_text(const char* sql) noexcept {
  std::string why;
  SqliteStatement statement = prepare(sql, why);
  if (!statement || statement.step() != SQLITE_ROW) return {};
  return std::string(statement.column_blob(0));
}

SqliteStatement SqliteDatabase::prepare(const char* sql, std::string& why) noexcept {
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &statement, nullptr) !=
      SQLITE_OK) {
    why = sqlite3_errmsg(db_);
    return SqliteStatement();
  }
  return SqliteStatement(statement);
}

long long SqliteDatabase::changes() const noexcept { return sqlite3_changes64(db_); }

bool SqliteDatabase::autocommit() const noexcept { return sqlite3_get_autocommit(db_) != 0; }

std::string SqliteDatabase::last_error() const {
  return db_ != nullptr ? sqlite3_errmsg(db_) : "no database";
}

}  // namespace tern::store
