#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace featjnd::sql {

// Thin RAII over the SQLite C API; every failure throws std::runtime_error naming the
// statement and SQLite's own message.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& o) noexcept;

  Statement& bind(int i, int64_t v);
  Statement& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  Statement& bind(int i, double v);
  Statement& bind(int i, const std::string& v);
  Statement& bind(int i, const char* v) { return bind(i, std::string(v)); }
  Statement& bind_null(int i);
  Statement& bind(int i, const std::optional<std::string>& v) {
    return v ? bind(i, *v) : bind_null(i);
  }
  Statement& bind(int i, const std::optional<int64_t>& v) { return v ? bind(i, *v) : bind_null(i); }
  bool step();  // true while a row is available
  void run() { while (step()) {} }
  void reset();

  int columns() const;
  std::string column_name(int i) const;
  enum class Type { null, integer, real, text, blob };
  Type type(int i) const;
  bool is_null(int i) const;
  int64_t integer(int i) const;
  double real(int i) const;
  std::string text(int i) const;
  std::optional<std::string> maybe_text(int i) const;
  bool readonly() const;
  // Whether the text held more than this one statement (query refuses to ignore the rest).
  bool has_more_statements() const;
  sqlite3_stmt* raw() { return stmt_; }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
  size_t tail_ = 0;  // where the first statement ends in sql_
};

class Database {
 public:
  enum class Mode { read_write_create, read_write, read_only };
  Database(const std::string& path, Mode mode);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  void exec(const std::string& sql);
  Statement prepare(const std::string& sql) { return Statement(db_, sql); }
  int64_t last_insert_id() const;
  int changes() const;
  sqlite3* raw() { return db_; }
  const std::string& path() const { return path_; }

 private:
  sqlite3* open(const std::string& name, int flags);  // throws naming path_
  sqlite3* db_ = nullptr;
  std::string path_;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back unless committed (exceptions, early returns).
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();
  void commit();

 private:
  Database& db_;
  bool done_ = false;
};

}  // namespace featjnd::sql
