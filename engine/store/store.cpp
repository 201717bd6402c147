#include "store/store.h"

#include <chrono>
#include <filesystem>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <sstream>

#include <fmt/format.h>
#include <sqlite3.h>
#include <thread>

#include "core/errors.h"
#include "core/sha256.h"
#include "spec/plan.h"

namespace fs = std::filesystem;

namespace featjnd {

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

std::string host_name() {
  char buf[256] = {0};
  gethostname(buf, sizeof(buf) - 1);
  return buf;
}

void bind_json(sql::Statement& st, int i, const nlohmann::json& v) {
  if (v.is_null())
    st.bind_null(i);
  else if (v.is_boolean())
    st.bind(i, static_cast<int64_t>(v.get<bool>()));
  else if (v.is_number_integer())
    st.bind(i, v.get<int64_t>());
  else if (v.is_number())
    st.bind(i, v.get<double>());
  else if (v.is_string())
    st.bind(i, v.get<std::string>());
  else
    st.bind(i, v.dump());
}

namespace {

// Each entry moves the schema from version i to i+1. Never edit a released entry: append.
const char* const kMigrations[] = {
    // 0 -> 1: the core tables.
    R"sql(
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (0);
CREATE TABLE experiments (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  created_at REAL NOT NULL
);
CREATE TABLE invocations (
  id INTEGER PRIMARY KEY,
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  started_at REAL NOT NULL,
  ended_at REAL,
  exit_status INTEGER,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  command TEXT NOT NULL,
  spec_file TEXT,
  spec_hash TEXT NOT NULL,
  spec_json TEXT NOT NULL,
  shard TEXT,
  engine_version TEXT NOT NULL,
  git_commit TEXT NOT NULL,
  git_dirty INTEGER NOT NULL,
  torch_version TEXT NOT NULL
);
CREATE TABLE plugin_versions (
  invocation_id INTEGER NOT NULL REFERENCES invocations(id),
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  version TEXT NOT NULL,
  file TEXT NOT NULL,
  file_sha256 TEXT NOT NULL,
  PRIMARY KEY (invocation_id, kind, name)
);
CREATE TABLE runs (
  id INTEGER PRIMARY KEY,
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  config_hash TEXT NOT NULL UNIQUE,
  stage TEXT NOT NULL,
  stage_type TEXT NOT NULL,
  label TEXT NOT NULL,
  config_json TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('queued','running','finished','failed','killed')),
  invocation_id INTEGER REFERENCES invocations(id),
  attempt INTEGER NOT NULL DEFAULT 0,
  device TEXT,
  host TEXT,
  pid INTEGER,
  queued_at REAL NOT NULL,
  start_time REAL,
  end_time REAL,
  heartbeat REAL,
  error TEXT,
  exit_status INTEGER,
  signal INTEGER
);
CREATE TABLE run_deps (
  run_id INTEGER NOT NULL REFERENCES runs(id),
  dep_run_id INTEGER NOT NULL REFERENCES runs(id),
  PRIMARY KEY (run_id, dep_run_id)
);
CREATE TABLE params (
  run_id INTEGER NOT NULL REFERENCES runs(id),
  key TEXT NOT NULL,
  value,
  PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE TRIGGER params_are_immutable BEFORE UPDATE ON params
BEGIN SELECT RAISE(ABORT, 'params are immutable'); END;
CREATE TABLE metrics (
  run_id INTEGER NOT NULL REFERENCES runs(id),
  key TEXT NOT NULL,
  value REAL,
  step INTEGER NOT NULL DEFAULT 0,
  timestamp REAL NOT NULL
);
CREATE INDEX metrics_by_run ON metrics(run_id, key, step);
CREATE TABLE artifacts (
  run_id INTEGER NOT NULL REFERENCES runs(id),
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  path TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  PRIMARY KEY (run_id, name)
);
)sql",
    // 1 -> 2: free-form run tags (MLflow) and the status index the scheduler's scans use.
    R"sql(
CREATE TABLE tags (
  run_id INTEGER NOT NULL REFERENCES runs(id),
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (run_id, key)
);
CREATE INDEX runs_by_status ON runs(experiment_id, status);
)sql",
    // 2 -> 3: the --set overrides of an invocation ([{path, pointer, value}]), beside its spec.
    R"sql(
ALTER TABLE invocations ADD COLUMN overrides TEXT NOT NULL DEFAULT '[]';
)sql",
    // 3 -> 4: a checksum per row of the results (featjnd_crc, store/sqlite.cpp): quick_check sees
    // the file's structure, not a bit changed inside a value; every read of the results checks
    // these (Store::check_integrity). runs: the identity columns, which never change.
    R"sql(
ALTER TABLE runs ADD COLUMN crc INTEGER;
ALTER TABLE params ADD COLUMN crc INTEGER;
ALTER TABLE metrics ADD COLUMN crc INTEGER;
ALTER TABLE artifacts ADD COLUMN crc INTEGER;
DROP TRIGGER params_are_immutable;
UPDATE runs SET crc = featjnd_crc(config_hash, stage, stage_type, label, config_json);
UPDATE params SET crc = featjnd_crc(run_id, key, value);
UPDATE metrics SET crc = featjnd_crc(run_id, key, value, step, timestamp);
UPDATE artifacts SET crc = featjnd_crc(run_id, name, kind, path, sha256, bytes);
CREATE TRIGGER params_are_immutable BEFORE UPDATE ON params
BEGIN SELECT RAISE(ABORT, 'params are immutable'); END;
)sql",
};

// The checksummed columns of each table (schema 4), as featjnd_crc takes them: the INSERTs below
// and merge write them, check_checksums compares.
struct Checksummed {
  const char* table;
  const char* columns;
  const char* names;  // what identifies a row in an error
};
const Checksummed kChecksummed[] = {
    {"runs", "config_hash, stage, stage_type, label, config_json", "'run ' || id || ' (' || stage || ')'"},
    {"params", "run_id, key, value", "'run ' || run_id || ', parameter ' || key"},
    {"metrics", "run_id, key, value, step, timestamp", "'run ' || run_id || ', metric ' || key || ' at step ' || step"},
    {"artifacts", "run_id, name, kind, path, sha256, bytes", "'run ' || run_id || ', artifact ' || name"},
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == Store::kSchemaVersion);

// "SQL error in \"...\": database disk image is malformed" -> SQLite's own words.
std::string sql_reason(const std::string& what) {
  auto colon = what.rfind("\": ");
  return colon == std::string::npos ? what : what.substr(colon + 3);
}


// Switching a new database to WAL reads page 1 and then upgrades to a write lock; SQLite does not
// call the busy handler for that upgrade (two readers upgrading at once would deadlock), so two
// engines started together on one new file see SQLITE_BUSY at once. Retry as the busy timeout would.
void enter_wal_mode(sql::Database& db) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (int attempt = 1;; ++attempt) {
    try {
      db.exec("PRAGMA journal_mode = WAL");
      return;
    } catch (const std::runtime_error&) {
      if ((sqlite3_errcode(db.raw()) & 0xff) != SQLITE_BUSY || std::chrono::steady_clock::now() > deadline) throw;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(5 * attempt, 100)));
  }
}

}  // namespace

Store::~Store() {
  if (lease_fd_ >= 0) ::close(lease_fd_);
}

Store::Store(const std::string& path, Open mode) : path_(path) {
  if (mode != Open::create && !fs::exists(path))
    throw UserError(fmt::format("database '{}' does not exist", path));
  if (mode == Open::create) {
    auto parent = fs::path(path).parent_path();
    if (!parent.empty()) fs::create_directories(parent);
  }
  db_ = std::make_unique<sql::Database>(
      path, mode == Open::read_only ? sql::Database::Mode::read_only
                                    : mode == Open::existing ? sql::Database::Mode::read_write
                                                             : sql::Database::Mode::read_write_create);
  refuse_foreign();
  if (mode == Open::read_only) {
    db_->exec("PRAGMA query_only = 1");
    int v = schema_version();
    if (v > kSchemaVersion)
      throw UserError(fmt::format("database '{}' has schema version {}; this engine knows up to {}: "
                                  "use a newer featjnd-engine",
                                  path, v, kSchemaVersion));
    return;
  }
  enter_wal_mode(*db_);
  db_->exec("PRAGMA synchronous = NORMAL");
  db_->exec("PRAGMA foreign_keys = ON");
  migrate();
}

// Another application's SQLite file must not gain the engine's tables: a database with tables
// but no schema_version is not ours.
void Store::refuse_foreign() {
  std::vector<std::string> tables;
  try {
    auto st = db_->prepare("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name");
    while (st.step()) tables.push_back(st.text(0));
  } catch (const std::exception& e) {
    throw UserError(fmt::format("database '{}' cannot be read ({}); it is damaged or not an SQLite database", path_,
                                sql_reason(e.what())));
  }
  if (tables.empty() || std::find(tables.begin(), tables.end(), "schema_version") != tables.end()) return;
  std::string names;
  for (size_t i = 0; i < tables.size() && i < 3; ++i) names += (i ? ", " : "") + tables[i];
  if (tables.size() > 3) names += ", ...";
  throw UserError(fmt::format("database '{}' belongs to another application (tables {}; no featjnd schema); the "
                              "engine writes only to its own databases: give another --db",
                              path_, names));
}

void Store::check_integrity() {
  std::string first;
  int64_t more = 0;
  try {
    auto st = db_->prepare("PRAGMA quick_check(1000)");
    while (st.step()) {  // a row may hold several problems, one per line, under a heading
      std::istringstream lines(st.text(0));
      for (std::string line; std::getline(lines, line);) {
        if (line == "ok" || line.empty() || line.rfind("*** in database", 0) == 0) continue;
        if (first.empty()) first = line;
        else ++more;
      }
    }
  } catch (const std::exception& e) {
    first = sql_reason(e.what());
  }
  if (first.empty()) return check_checksums();
  // One line: the first problem the checker names, and how many more it found.
  if (first.size() > 200) first = first.substr(0, 197) + "...";
  throw UserError(fmt::format("database '{}' is damaged (quick_check: {}{}); restore it from a copy or run into a new "
                              "--db",
                              path_, first, more ? fmt::format("; and {}{} more problems", more, more >= 999 ? "+" : "") : ""));
}

void Store::check_checksums() {
  if (schema_version() < 4) return;  // an older database opened read-only: nothing recorded
  for (const auto& t : kChecksummed) {
    auto st = db_->prepare(fmt::format("SELECT COUNT(*), MIN({}) FROM {} WHERE crc IS NOT featjnd_crc({})", t.names,
                                       t.table, t.columns));  // MIN: any one of them, named
    if (!st.step() || st.integer(0) == 0) continue;
    throw UserError(fmt::format("database '{}' holds values changed after they were written: {} row{} of {} do{} not "
                                "match {} checksum{} (one of them: {}); restore it from a copy",
                                path_, st.integer(0), st.integer(0) == 1 ? "" : "s", t.table, st.integer(0) == 1 ? "es" : "",
                                st.integer(0) == 1 ? "its" : "their", st.integer(0) == 1 ? "" : "s", st.text(1)));
  }
}

std::string Store::artifact_root() const {
  fs::path p(path_);
  return (p.parent_path() / (p.stem().string() + ".artifacts")).string();
}

int Store::schema_version() {
  auto st = db_->prepare("SELECT name FROM sqlite_master WHERE type='table' AND name='schema_version'");
  if (!st.step()) return 0;
  auto v = db_->prepare("SELECT version FROM schema_version");
  return v.step() ? static_cast<int>(v.integer(0)) : 0;
}

void Store::migrate() {
  // IMMEDIATE takes the write lock first, so engines that open one new database at once do not
  // race each other through the migrations (an MLflow failure mode).
  sql::Transaction tx(*db_);
  int v = schema_version();
  if (v > kSchemaVersion)
    throw UserError(fmt::format("database '{}' has schema version {}; this engine knows up to {}: "
                                "use a newer featjnd-engine",
                                path_, v, kSchemaVersion));
  for (int i = v; i < kSchemaVersion; ++i) {
    db_->exec(kMigrations[i]);
    db_->prepare("UPDATE schema_version SET version = ?").bind(1, i + 1).run();
  }
  tx.commit();
}

// Read and write in one IMMEDIATE transaction: a read statement left open across a write makes
// SQLite answer "database is locked" at once, busy timeout or not, when another engine wrote in
// between (two engines started at the same moment).
int64_t Store::ensure_experiment(const std::string& name, const std::string& description) {
  sql::Transaction tx(*db_);
  std::optional<int64_t> id;
  {
    auto sel = db_->prepare("SELECT id FROM experiments WHERE name = ?");
    sel.bind(1, name);
    if (sel.step()) id = sel.integer(0);
  }
  if (id) {
    db_->prepare("UPDATE experiments SET description = ? WHERE id = ?").bind(1, description).bind(2, *id).run();
  } else {
    db_->prepare("INSERT INTO experiments(name, description, created_at) VALUES (?,?,?)")
        .bind(1, name).bind(2, description).bind(3, now_seconds()).run();
    id = db_->last_insert_id();
  }
  tx.commit();
  return *id;
}

int64_t Store::begin_invocation(int64_t experiment_id, const Provenance& p) {
  sql::Transaction tx(*db_);
  db_->prepare(
         "INSERT INTO invocations(experiment_id, started_at, host, pid, command, spec_file, spec_hash, "
         "spec_json, shard, engine_version, git_commit, git_dirty, torch_version, overrides) "
         "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
      .bind(1, experiment_id).bind(2, now_seconds()).bind(3, p.host).bind(4, p.pid).bind(5, p.command)
      .bind(6, p.spec_file).bind(7, p.spec_hash).bind(8, p.spec_json.dump())
      .bind(9, p.shard.empty() ? std::optional<std::string>() : std::optional<std::string>(p.shard))
      .bind(10, p.engine_version).bind(11, p.git_commit).bind(12, static_cast<int64_t>(p.git_dirty))
      .bind(13, p.torch_version).bind(14, p.overrides.dump()).run();
  int64_t id = db_->last_insert_id();
  auto ins = db_->prepare(
      "INSERT INTO plugin_versions(invocation_id, kind, name, version, file, file_sha256) VALUES (?,?,?,?,?,?)");
  for (auto& pl : p.plugins) {
    ins.bind(1, id).bind(2, pl.kind).bind(3, pl.name).bind(4, pl.version).bind(5, pl.file).bind(6, pl.file_sha256);
    ins.run();
    ins.reset();
  }
  tx.commit();
  return id;
}

void Store::end_invocation(int64_t id, int exit_status) {
  db_->prepare("UPDATE invocations SET ended_at = ?, exit_status = ? WHERE id = ?")
      .bind(1, now_seconds()).bind(2, exit_status).bind(3, id).run();
}

void Store::start_from(const std::string& base, const std::string& path) {
  if (fs::exists(path)) return;
  const auto folder = fs::absolute(path).parent_path(), base_folder = fs::absolute(base).parent_path();
  if (fs::weakly_canonical(folder) != fs::weakly_canonical(base_folder))
    throw UserError(fmt::format("--base {}: the shard's database {} must lie in the same folder ({}), where the base's "
                                "artifact paths resolve",
                                base, path, base_folder.string()));
  {
    Store check(base, Open::read_only);  // an engine database, of a known schema, undamaged
    check.check_integrity();
  }
  const auto partial = path + ".partial";
  fs::remove(partial);
  {
    sql::Database src(base, sql::Database::Mode::read_only);
    src.prepare("VACUUM INTO ?").bind(1, partial).run();
  }
  fs::rename(partial, path);
}

std::optional<RunState> Store::find_run(const std::string& hash) {
  auto sel = db_->prepare("SELECT id, status, attempt, invocation_id FROM runs WHERE config_hash = ?");
  sel.bind(1, hash);
  if (!sel.step()) return std::nullopt;
  RunState s{sel.integer(0), sel.text(1), static_cast<int>(sel.integer(2)), std::nullopt};
  if (!sel.is_null(3)) s.invocation_id = sel.integer(3);
  return s;
}

RunState Store::add_run(int64_t experiment_id, const PlannedRun& run, const std::vector<int64_t>& deps) {
  sql::Transaction tx(*db_);  // the lookup and the insert together: two engines, one row
  if (auto known = find_run(run.hash)) return *known;
  db_->prepare(
         "INSERT INTO runs(experiment_id, config_hash, stage, stage_type, label, config_json, status, queued_at, crc) "
         "VALUES (?1,?2,?3,?4,?5,?6,'queued',?7, featjnd_crc(?2,?3,?4,?5,?6))")
      .bind(1, experiment_id).bind(2, run.hash).bind(3, run.stage).bind(4, run.type).bind(5, run.label)
      .bind(6, run.config.dump()).bind(7, now_seconds()).run();
  int64_t id = db_->last_insert_id();
  auto p = db_->prepare("INSERT INTO params(run_id, key, value, crc) VALUES (?1,?2,?3, featjnd_crc(?1,?2,?3))");
  for (auto& [k, v] : run.params) {
    p.bind(1, id).bind(2, k);
    bind_json(p, 3, v);
    p.run();
    p.reset();
  }
  auto d = db_->prepare("INSERT INTO run_deps(run_id, dep_run_id) VALUES (?,?)");
  for (auto dep : deps) {
    d.bind(1, id).bind(2, dep);
    d.run();
    d.reset();
  }
  tx.commit();
  return RunState{id, "queued", 0, std::nullopt};
}

std::string Store::lease_path(int64_t invocation_id) const {
  return (fs::path(artifact_root()) / "leases" / fmt::format("invocation-{}.lock", invocation_id)).string();
}

// The lease of an invocation is an exclusive flock on its lock file, held by the engine process
// for its whole life and dropped by the kernel when it exits (a zombie holds no lock; a reused pid
// never held it). Process ids decide nothing.
void Store::take_lease(int64_t invocation_id) {
  const auto path = lease_path(invocation_id);
  fs::create_directories(fs::path(path).parent_path());
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error(fmt::format("cannot take the lease '{}': {}", path, std::strerror(errno)));
  }
  lease_fd_ = fd;
  lease_invocation_ = invocation_id;
}

bool Store::lease_held(int64_t invocation_id) const {
  if (invocation_id == lease_invocation_) return false;  // ours: not "another process"
  int fd = ::open(lease_path(invocation_id).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;  // never taken (an engine before leases) or removed: nobody holds it
  const bool held = ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return held;
}

bool Store::owner_alive(int64_t run_id) {
  auto st = db_->prepare(
      "SELECT i.host, i.id, i.ended_at, r.heartbeat FROM runs r JOIN invocations i ON i.id = r.invocation_id "
      "WHERE r.id = ?");
  st.bind(1, run_id);
  if (!st.step()) return false;
  if (!st.is_null(2)) return false;  // that invocation has ended
  std::string host = st.text(0);
  int64_t invocation = st.integer(1);
  double hb = st.is_null(3) ? 0.0 : st.real(3);
  if (host == host_name()) return lease_held(invocation);
  return now_seconds() - hb < 120.0;  // another machine: trust a fresh heartbeat only
}

bool Store::requeue(int64_t run_id, const RunState& seen) {
  // Compare and set: only the state this engine saw is put back. Another engine that claimed the
  // run in between keeps it (a blind status='queued' let two engines execute one run).
  sql::Transaction tx(*db_);
  db_->prepare(
         "UPDATE runs SET status='queued', queued_at=?, start_time=NULL, end_time=NULL, heartbeat=NULL, "
         "error=NULL, exit_status=NULL, signal=NULL, device=NULL, pid=NULL "
         "WHERE id=? AND status=? AND attempt=? AND invocation_id IS ?")
      .bind(1, now_seconds()).bind(2, run_id).bind(3, seen.status).bind(4, seen.attempt)
      .bind(5, seen.invocation_id).run();
  if (db_->changes() != 1) return false;
  // What the earlier attempt left: its rows, and once they are gone for good, its files.
  const auto files = artifacts_of(run_id);
  for (const char* q : {"DELETE FROM metrics WHERE run_id = ?", "DELETE FROM artifacts WHERE run_id = ?",
                        "DELETE FROM tags WHERE run_id = ?"})
    db_->prepare(q).bind(1, run_id).run();
  tx.commit();
  for (auto& [name, path] : files) {
    std::error_code ec;
    fs::remove(path, ec);
  }
  return true;
}

bool Store::claim(int64_t run_id, int64_t invocation_id, const std::string& device) {
  double t = now_seconds();
  db_->prepare(
         "UPDATE runs SET status='running', invocation_id=?, device=?, host=?, start_time=?, heartbeat=?, "
         "attempt=attempt+1 WHERE id=? AND status='queued'")
      .bind(1, invocation_id).bind(2, device).bind(3, host_name()).bind(4, t).bind(5, t).bind(6, run_id).run();
  return db_->changes() == 1;
}

void Store::set_worker_pid(int64_t run_id, int64_t pid) {
  db_->prepare("UPDATE runs SET pid=? WHERE id=?").bind(1, pid).bind(2, run_id).run();
}

void Store::mark(int64_t run_id, const std::string& status, const std::string& error,
                 std::optional<int> exit_status, std::optional<int> signal) {
  auto st = db_->prepare(
      "UPDATE runs SET status=?, error=?, exit_status=?, signal=?, end_time=? WHERE id=? AND status != 'finished'");
  st.bind(1, status);
  if (error.empty()) st.bind_null(2); else st.bind(2, error);
  if (exit_status) st.bind(3, *exit_status); else st.bind_null(3);
  if (signal) st.bind(4, *signal); else st.bind_null(4);
  if (status == "queued") st.bind_null(5); else st.bind(5, now_seconds());
  st.bind(6, run_id).run();
}

void Store::heartbeat(int64_t run_id) {
  db_->prepare("UPDATE runs SET heartbeat=? WHERE id=?").bind(1, now_seconds()).bind(2, run_id).run();
}

void Store::write_metric_rows(const std::vector<MetricRow>& rows) {
  auto st = db_->prepare("INSERT INTO metrics(run_id, key, value, step, timestamp, crc) "
                         "VALUES (?1,?2,?3,?4,?5, featjnd_crc(?1,?2,?3,?4,?5))");
  for (auto& r : rows) {
    st.bind(1, r.run_id).bind(2, r.key).bind(3, r.value).bind(4, r.step).bind(5, r.timestamp);
    st.run();
    st.reset();
  }
}

void Store::insert_metrics(const std::vector<MetricRow>& rows) {
  if (rows.empty()) return;
  sql::Transaction tx(*db_);
  write_metric_rows(rows);
  tx.commit();
}

void Store::add_artifact(int64_t run_id, const std::string& name, const std::string& kind,
                         const std::string& abs_path) {
  std::error_code ec;
  auto bytes = fs::file_size(abs_path, ec);
  if (ec) throw std::runtime_error(fmt::format("artifact '{}' has no file at '{}'", name, abs_path));
  auto rel = fs::relative(abs_path, fs::absolute(fs::path(path_)).parent_path(), ec).string();
  db_->prepare("INSERT OR REPLACE INTO artifacts(run_id, name, kind, path, sha256, bytes, crc) "
               "VALUES (?1,?2,?3,?4,?5,?6, featjnd_crc(?1,?2,?3,?4,?5,?6))")
      .bind(1, run_id).bind(2, name).bind(3, kind).bind(4, ec ? abs_path : rel)
      .bind(5, sha256_file(abs_path)).bind(6, static_cast<int64_t>(bytes)).run();
}

std::map<std::string, std::string> Store::artifacts_of(int64_t run_id) {
  std::map<std::string, std::string> out;
  auto st = db_->prepare("SELECT name, path FROM artifacts WHERE run_id = ?");
  st.bind(1, run_id);
  auto base = fs::absolute(fs::path(path_)).parent_path();
  while (st.step()) {
    fs::path p = st.text(1);
    out[st.text(0)] = (p.is_absolute() ? p : base / p).lexically_normal().string();
  }
  return out;
}

void Store::finish(int64_t run_id, const std::vector<MetricRow>& rows) {
  sql::Transaction tx(*db_);
  write_metric_rows(rows);
  double t = now_seconds();
  db_->prepare("UPDATE runs SET status='finished', end_time=?, heartbeat=?, error=NULL WHERE id=?")
      .bind(1, t).bind(2, t).bind(3, run_id).run();
  tx.commit();
}

void Store::set_tag(int64_t run_id, const std::string& key, const std::string& value) {
  db_->prepare("INSERT OR REPLACE INTO tags(run_id, key, value) VALUES (?,?,?)")
      .bind(1, run_id).bind(2, key).bind(3, value).run();
}

}  // namespace featjnd
