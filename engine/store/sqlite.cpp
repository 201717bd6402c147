#include "store/sqlite.h"

#include <cstring>
#include <stdexcept>

#include <fmt/format.h>
#include <sqlite3.h>
#include <zlib.h>

namespace featjnd::sql {

namespace {
[[noreturn]] void fail(sqlite3* db, const std::string& what) {
  throw std::runtime_error(fmt::format("{}: {}", what, db ? sqlite3_errmsg(db) : "out of memory"));
}
std::string first_line(const std::string& s) {
  auto p = s.find_first_not_of(" \n\t");
  auto t = p == std::string::npos ? s : s.substr(p);
  auto n = t.find('\n');
  t = n == std::string::npos ? t : t.substr(0, n);
  return t.size() > 80 ? t.substr(0, 77) + "..." : t;
}
// featjnd_crc(a, b, ...): CRC-32 of its arguments' values in a canonical form — numbers as the
// double they equal (so that a column's type affinity, which may store the integer 1 bound to a
// REAL column as 1.0, does not change the checksum), text and blobs with their length, NULL as
// a tag — the same whether computed from the values bound to an INSERT or read back.
void crc_function(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  uLong crc = crc32(0L, Z_NULL, 0);
  auto add = [&](const void* p, size_t n) { crc = crc32(crc, static_cast<const Bytef*>(p), static_cast<uInt>(n)); };
  for (int i = 0; i < argc; ++i) {
    const int type = sqlite3_value_type(argv[i]);
    if (type == SQLITE_INTEGER || type == SQLITE_FLOAT) {
      const double v = sqlite3_value_double(argv[i]);
      uint64_t bits = 0;
      std::memcpy(&bits, &v, sizeof bits);
      uint8_t b[9] = {'n'};
      for (int k = 0; k < 8; ++k) b[1 + k] = static_cast<uint8_t>(bits >> (8 * k));
      add(b, sizeof b);
    } else if (type == SQLITE_TEXT || type == SQLITE_BLOB) {
      const void* data = type == SQLITE_TEXT ? static_cast<const void*>(sqlite3_value_text(argv[i])) : sqlite3_value_blob(argv[i]);
      const auto n = static_cast<uint64_t>(sqlite3_value_bytes(argv[i]));
      uint8_t b[9] = {static_cast<uint8_t>(type == SQLITE_TEXT ? 't' : 'b')};
      for (int k = 0; k < 8; ++k) b[1 + k] = static_cast<uint8_t>(n >> (8 * k));
      add(b, sizeof b);
      if (n) add(data, n);
    } else {
      const uint8_t z = 'z';
      add(&z, 1);
    }
  }
  sqlite3_result_int64(ctx, static_cast<sqlite3_int64>(crc));
}

}  // namespace

Statement::Statement(sqlite3* db, const std::string& sql) : db_(db), sql_(sql) {
  const char* tail = nullptr;
  if (sqlite3_prepare_v2(db, sql_.c_str(), static_cast<int>(sql_.size()), &stmt_, &tail) != SQLITE_OK)
    fail(db, fmt::format("SQL error in \"{}\"", first_line(sql)));
  if (!stmt_) throw std::runtime_error("empty SQL statement");
  tail_ = tail ? static_cast<size_t>(tail - sql_.c_str()) : sql_.size();
}

bool Statement::has_more_statements() const {
  // Whatever follows the first statement is another one unless SQLite finds nothing in it
  // (whitespace, comments and semicolons prepare to no statement).
  sqlite3_stmt* next = nullptr;
  const std::string rest = sql_.substr(tail_);
  if (sqlite3_prepare_v2(db_, rest.c_str(), static_cast<int>(rest.size()), &next, nullptr) != SQLITE_OK) return true;
  const bool more = next != nullptr;
  sqlite3_finalize(next);
  return more;
}
Statement::~Statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}
Statement::Statement(Statement&& o) noexcept : db_(o.db_), stmt_(o.stmt_), sql_(std::move(o.sql_)), tail_(o.tail_) {
  o.stmt_ = nullptr;
}
Statement& Statement::bind(int i, int64_t v) {
  if (sqlite3_bind_int64(stmt_, i, v) != SQLITE_OK) fail(db_, "bind");
  return *this;
}
Statement& Statement::bind(int i, double v) {
  if (sqlite3_bind_double(stmt_, i, v) != SQLITE_OK) fail(db_, "bind");
  return *this;
}
Statement& Statement::bind(int i, const std::string& v) {
  if (sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT) != SQLITE_OK)
    fail(db_, "bind");
  return *this;
}
Statement& Statement::bind_null(int i) {
  if (sqlite3_bind_null(stmt_, i) != SQLITE_OK) fail(db_, "bind");
  return *this;
}
bool Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  std::string msg = sqlite3_errmsg(db_);
  sqlite3_reset(stmt_);
  // A full disk or a file-size limit: say which file, since the statement alone does not.
  const int code = rc & 0xff;
  if (code == SQLITE_FULL || code == SQLITE_IOERR) {
    const char* file = sqlite3_db_filename(db_, "main");
    throw std::runtime_error(fmt::format("writing to '{}' failed in \"{}\": {} (disk full or file size limit?)",
                                         file ? file : "?", first_line(sql_), msg));
  }
  throw std::runtime_error(fmt::format("SQL error in \"{}\": {}", first_line(sql_), msg));
}
void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}
int Statement::columns() const { return sqlite3_column_count(stmt_); }
std::string Statement::column_name(int i) const { return sqlite3_column_name(stmt_, i); }
Statement::Type Statement::type(int i) const {
  switch (sqlite3_column_type(stmt_, i)) {
    case SQLITE_INTEGER: return Type::integer;
    case SQLITE_FLOAT: return Type::real;
    case SQLITE_TEXT: return Type::text;
    case SQLITE_BLOB: return Type::blob;
    default: return Type::null;
  }
}
bool Statement::is_null(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }
int64_t Statement::integer(int i) const { return sqlite3_column_int64(stmt_, i); }
double Statement::real(int i) const { return sqlite3_column_double(stmt_, i); }
std::string Statement::text(int i) const {
  auto p = sqlite3_column_text(stmt_, i);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, i)))
           : std::string();
}
std::optional<std::string> Statement::maybe_text(int i) const {
  if (is_null(i)) return std::nullopt;
  return text(i);
}
bool Statement::readonly() const { return sqlite3_stmt_readonly(stmt_) != 0; }

namespace {
// A file name as an SQLite URI path: '%', '?' and '#' escaped.
std::string uri_of(const std::string& path, const char* query) {
  std::string out = "file:";
  for (char c : path) {
    if (c == '%' || c == '?' || c == '#')
      out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    else
      out += c;
  }
  return out + "?" + query;
}
}  // namespace

sqlite3* Database::open(const std::string& name, int flags) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(name.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    if (db) sqlite3_close(db);
    throw std::runtime_error(fmt::format("cannot open database '{}': {}", path_, msg));
  }
  // Workers and the scheduler write to one file at once; wait instead of "database is locked".
  sqlite3_busy_timeout(db, 30000);
  // Every connection can compute and check the rows' checksums (store.cpp's schema 4).
  sqlite3_create_function_v2(db, "featjnd_crc", -1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr, crc_function, nullptr,
                             nullptr, nullptr);
  return db;
}

Database::Database(const std::string& path, Mode mode) : path_(path) {
  if (mode != Mode::read_only) {
    db_ = open(path, mode == Mode::read_write ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    return;
  }
  // Read-only commands: mode=ro first. On read-only media a WAL database cannot create its
  // shared-memory file and every read fails with "unable to open database file"; nothing else can
  // write there either, so the file is then opened as immutable (no locks, no -shm).
  db_ = open(uri_of(path, "mode=ro"), SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
  sqlite3_stmt* probe = nullptr;
  int rc = sqlite3_prepare_v2(db_, "SELECT 1 FROM sqlite_master LIMIT 1", -1, &probe, nullptr);
  if (rc == SQLITE_OK) rc = sqlite3_step(probe);
  sqlite3_finalize(probe);
  if ((rc & 0xff) == SQLITE_CANTOPEN || (rc & 0xff) == SQLITE_READONLY) {
    sqlite3_close_v2(db_);
    db_ = nullptr;
    db_ = open(uri_of(path, "mode=ro&immutable=1"), SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
  }
}
Database::~Database() {
  if (db_) sqlite3_close_v2(db_);
}
void Database::exec(const std::string& sql) {
  char* err = nullptr;
  if (int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err); rc != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    if ((rc & 0xff) == SQLITE_FULL || (rc & 0xff) == SQLITE_IOERR)
      throw std::runtime_error(fmt::format("writing to '{}' failed in \"{}\": {} (disk full or file size limit?)",
                                           path_, first_line(sql), msg));
    throw std::runtime_error(fmt::format("SQL error in \"{}\": {}", first_line(sql), msg));
  }
}
int64_t Database::last_insert_id() const { return sqlite3_last_insert_rowid(db_); }
int Database::changes() const { return sqlite3_changes(db_); }

Transaction::Transaction(Database& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }
Transaction::~Transaction() {
  if (!done_) {
    try {
      db_.exec("ROLLBACK");
    } catch (...) {
    }
  }
}
void Transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace featjnd::sql
