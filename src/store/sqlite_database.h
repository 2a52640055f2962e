// RAII owners of SQLite's two handles: SqliteDatabase (a sqlite3 connection) and
// SqliteStatement (a prepared sqlite3_stmt), with the few calls the storage thread makes.
// Blobs go in and out as std::string_view: keys and values are arbitrary bytes (NUL included).
//
// Thread rule: one thread at a time per object (the storage thread); SQLite is built
// serialized on Debian, but nothing here relies on it.
#pragma once

#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace tern::store {

class SqliteStatement {
 public:
  SqliteStatement() = default;
  explicit SqliteStatement(sqlite3_stmt* statement) noexcept : statement_(statement) {}
  SqliteStatement(SqliteStatement&& other) noexcept;
  SqliteStatement& operator=(SqliteStatement&& other) noexcept;
  ~SqliteStatement();

  // Binds parameter `index` (1-based) to the bytes of `blob` (an empty view is an empty blob,
  // never NULL). SQLite copies the bytes only at step(): `blob` must outlive the step.
  bool bind_blob(int index, std::string_view blob) noexcept;
  bool bind_int(int index, long long value) noexcept;
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step() noexcept;
  // Column `index` (0-based) of the current row, as bytes (valid until the next step/reset).
  std::string_view column_blob(int index) noexcept;
  // Ready for the next execution: bindings cleared.
  void reset() noexcept;
  explicit operator bool() const noexcept { return statement_ != nullptr; }

 private:
  sqlite3_stmt* statement_ = nullptr;
};

class SqliteDatabase {
 public:
  // Opens (or creates, unless `read_only`) the database at `path`. On failure the object is
  // empty and `why` says what SQLite said.
  static SqliteDatabase open(const std::string& path, bool read_only, std::string& why);

  SqliteDatabase() = default;
  SqliteDatabase(SqliteDatabase&& other) noexcept;
  SqliteDatabase& operator=(SqliteDatabase&& other) noexcept;
  ~SqliteDatabase();

  // Runs `sql` (one or more statements, no results kept). False with `why` set on an error.
  bool exec(const char* sql, std::string& why) noexcept;
  // The first column of the first row of `sql` as text ("" when none): PRAGMA answers.
  std::string query_text(const char* sql) noexcept;
  // A prepared statement, empty with `why` set on an error.
  SqliteStatement prepare(const char* sql, std::string& why) noexcept;
  // Rows changed by the last INSERT, UPDATE or DELETE.
  long long changes() const noexcept;
  // True when no transaction is open (SQLite rolls one back by itself on some I/O errors).
  bool autocommit() const noexcept;
  // SQLite's message for the last error on this connection.
  std::string last_error() const;
  explicit operator bool() const noexcept { return db_ != nullptr; }

 private:
  explicit SqliteDatabase(sqlite3* db) noexcept : db_(db) {}
  sqlite3* db_ = nullptr;
};

}  // namespace tern::store
