#include <doctest/doctest.h>

#include <filesystem>
#include <cstdio>
#include <sys/wait.h>
#include <unistd.h>

#include "core/errors.h"
#include "spec/plan.h"
#include "store/store.h"

namespace fs = std::filesystem;
using namespace featjnd;

namespace {
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("featjnd-store-test-" + std::to_string(getpid()) + "-" + std::to_string(counter()++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  static int& counter() {
    static int c = 0;
    return c;
  }
};

PlannedRun run_named(const std::string& hash) {
  PlannedRun r;
  r.stage = "eval";
  r.type = "evaluate";
  r.hash = hash;
  r.label = "x=1";
  r.config = {{"stage", "eval"}};
  r.params = {{"noise.sigma", 0.5}, {"noise.kind", "gauss"}, {"seed", 3}};
  return r;
}

int64_t count(Store& s, const std::string& sql) {
  auto st = s.db().prepare(sql);
  REQUIRE(st.step());
  return st.integer(0);
}
}  // namespace

TEST_CASE("a new database has the current schema, WAL mode and the expected tables") {
  TempDir t;
  Store s((t.path / "r.db").string(), Store::Open::create);
  CHECK(s.schema_version() == Store::kSchemaVersion);
  auto st = s.db().prepare("PRAGMA journal_mode");
  REQUIRE(st.step());
  CHECK(st.text(0) == "wal");
  for (auto table : {"experiments", "invocations", "plugin_versions", "runs", "run_deps", "params", "metrics",
                     "artifacts", "tags", "schema_version"})
    CHECK(count(s, std::string("SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name='") + table + "'") == 1);
}

TEST_CASE("an older database is migrated; a newer one is refused") {
  TempDir t;
  auto path = (t.path / "r.db").string();
  {
    Store s(path, Store::Open::create);
    s.add_run(s.ensure_experiment("exp", "d"), run_named("h1"), {});
    // Roll the file back to version 1 by undoing migrations 4, 3 and 2.
    s.db().exec("ALTER TABLE runs DROP COLUMN crc; ALTER TABLE params DROP COLUMN crc; "
                "ALTER TABLE metrics DROP COLUMN crc; ALTER TABLE artifacts DROP COLUMN crc; "
                "ALTER TABLE invocations DROP COLUMN overrides; DROP INDEX runs_by_status; DROP TABLE tags; "
                "UPDATE schema_version SET version = 1");
  }
  {
    Store s(path, Store::Open::existing);
    CHECK(s.schema_version() == 4);
    // Migration 4 gave the rows already there their checksums, and they verify.
    CHECK(count(s, "SELECT COUNT(*) FROM runs WHERE crc IS NULL") == 0);
    CHECK(count(s, "SELECT COUNT(*) FROM params WHERE crc IS NULL") == 0);
    CHECK_NOTHROW(s.check_integrity());
    CHECK(count(s, "SELECT COUNT(*) FROM sqlite_master WHERE name='tags'") == 1);
    CHECK(count(s, "SELECT COUNT(*) FROM pragma_table_info('invocations') WHERE name='overrides'") == 1);
    s.db().exec("UPDATE schema_version SET version = 99");
  }
  CHECK_THROWS_WITH_AS(Store(path, Store::Open::existing), doctest::Contains("schema version 99"), UserError);
  CHECK_THROWS_AS(Store((t.path / "missing.db").string(), Store::Open::existing), UserError);
}

TEST_CASE("runs are unique by content hash; params are typed and immutable") {
  TempDir t;
  Store s((t.path / "r.db").string(), Store::Open::create);
  int64_t e = s.ensure_experiment("exp", "d");
  CHECK(s.ensure_experiment("exp", "d") == e);
  auto a = s.add_run(e, run_named("h1"), {});
  auto b = s.add_run(e, run_named("h1"), {});
  CHECK(a.id == b.id);
  CHECK(count(s, "SELECT COUNT(*) FROM runs") == 1);
  CHECK(count(s, "SELECT COUNT(*) FROM params WHERE key='noise.sigma' AND value = 0.5") == 1);
  CHECK(count(s, "SELECT COUNT(*) FROM params WHERE key='noise.kind' AND value = 'gauss'") == 1);
  CHECK_THROWS_WITH(s.db().exec("UPDATE params SET value = 1 WHERE key = 'seed'"), doctest::Contains("immutable"));
}

TEST_CASE("claim, metrics in batches, finish and requeue") {
  TempDir t;
  Store s((t.path / "r.db").string(), Store::Open::create);
  int64_t e = s.ensure_experiment("exp", "");
  Provenance p;
  p.host = host_name();
  p.pid = getpid();
  p.spec_json = nlohmann::json::object();
  int64_t inv = s.begin_invocation(e, p);
  auto r = s.add_run(e, run_named("h1"), {});
  CHECK(s.claim(r.id, inv, "cpu"));
  CHECK_FALSE(s.claim(r.id, inv, "cpu"));  // already running
  std::vector<MetricRow> rows;
  for (int i = 0; i < 10000; ++i) rows.push_back({r.id, "loss", 1.0 / (i + 1), i, 0.0});
  s.insert_metrics(rows);
  CHECK(count(s, "SELECT COUNT(*) FROM metrics") == 10000);

  // A half-done attempt is cleared before it is redone, if it is still as this engine saw it.
  RunState seen{r.id, "running", 1, inv};
  CHECK_FALSE(s.requeue(r.id, RunState{r.id, "failed", 1, inv}));  // not what it is now
  CHECK_FALSE(s.requeue(r.id, RunState{r.id, "running", 0, inv}));  // another attempt
  CHECK(count(s, "SELECT COUNT(*) FROM metrics") == 10000);
  CHECK(s.requeue(r.id, seen));
  CHECK(count(s, "SELECT COUNT(*) FROM metrics") == 0);
  CHECK(count(s, "SELECT COUNT(*) FROM runs WHERE status='queued'") == 1);
  CHECK(s.claim(r.id, inv, "cpu"));
  s.finish(r.id, {{r.id, "top1", 0.9, 0, 0.0}});
  CHECK(count(s, "SELECT COUNT(*) FROM runs WHERE status='finished' AND attempt=2") == 1);
  // A finished run is never marked otherwise.
  s.mark(r.id, "failed", "late");
  CHECK(count(s, "SELECT COUNT(*) FROM runs WHERE status='finished'") == 1);
}

TEST_CASE("requeue is a compare-and-set: a run another engine claimed in between stays its own") {
  TempDir t;
  const auto path = (t.path / "r.db").string();
  Store a(path, Store::Open::create), b(path, Store::Open::existing);
  int64_t e = a.ensure_experiment("exp", "");
  Provenance p;
  p.host = host_name();
  p.spec_json = nlohmann::json::object();
  int64_t inv_a = a.begin_invocation(e, p), inv_b = b.begin_invocation(e, p);
  auto r = a.add_run(e, run_named("h"), {});
  REQUIRE(a.claim(r.id, inv_a, "cpu"));
  a.mark(r.id, "failed", "first attempt");
  // Engine A reads the failed run; engine B requeues and claims it before A requeues.
  const RunState seen_by_a = a.add_run(e, run_named("h"), {});
  CHECK(seen_by_a.status == "failed");
  REQUIRE(b.requeue(r.id, b.add_run(e, run_named("h"), {})));
  REQUIRE(b.claim(r.id, inv_b, "cpu"));
  b.insert_metrics({{r.id, "loss", 1.0, 0, 0.0}});
  CHECK_FALSE(a.requeue(r.id, seen_by_a));  // A must not reset B's run
  CHECK(count(a, "SELECT COUNT(*) FROM runs WHERE status='running' AND invocation_id=" + std::to_string(inv_b)) == 1);
  CHECK(count(a, "SELECT COUNT(*) FROM metrics") == 1);
  CHECK_FALSE(a.claim(r.id, inv_a, "cpu"));
}

TEST_CASE("ownership is a lease held by the live engine, not a process id") {
  TempDir t;
  const auto path = (t.path / "r.db").string();
  Store s(path, Store::Open::create);
  int64_t e = s.ensure_experiment("exp", "");
  Provenance p;
  p.host = host_name();
  p.pid = getpid();  // a live pid: under the old rule this run would look owned forever
  p.spec_json = nlohmann::json::object();
  int64_t inv = s.begin_invocation(e, p);
  auto r = s.add_run(e, run_named("h"), {});
  REQUIRE(s.claim(r.id, inv, "cpu"));
  CHECK_FALSE(s.owner_alive(r.id));  // no lease was ever taken: nobody owns it

  // A child process takes the invocation's lease and waits; while it lives, the run is owned.
  int ready[2], go[2];
  REQUIRE(pipe(ready) == 0);
  REQUIRE(pipe(go) == 0);
  pid_t child = fork();
  if (child == 0) {
    Store c(path, Store::Open::existing);
    c.take_lease(inv);
    char x = 1;
    [[maybe_unused]] auto w = write(ready[1], &x, 1);
    [[maybe_unused]] auto n = read(go[0], &x, 1);
    _exit(0);
  }
  char x;
  REQUIRE(read(ready[0], &x, 1) == 1);
  CHECK(s.owner_alive(r.id));
  // The child exits but is not reaped: a zombie holds no lock, so the run is free.
  REQUIRE(write(go[1], &x, 1) == 1);
  for (int i = 0; i < 200 && s.owner_alive(r.id); ++i) usleep(10000);
  CHECK_FALSE(s.owner_alive(r.id));
  int status = 0;
  waitpid(child, &status, 0);
}

TEST_CASE("another application's database and a damaged one are refused") {
  TempDir t;
  const auto foreign = (t.path / "other.db").string();
  {
    sql::Database db(foreign, sql::Database::Mode::read_write_create);
    db.exec("CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT)");
  }
  for (auto mode : {Store::Open::create, Store::Open::existing, Store::Open::read_only})
    CHECK_THROWS_WITH(Store(foreign, mode), doctest::Contains("belongs to another application (tables customers"));
  {
    sql::Database db(foreign, sql::Database::Mode::read_only);
    CHECK(db.prepare("SELECT COUNT(*) FROM sqlite_master WHERE name='runs'").step());
    auto st = db.prepare("SELECT COUNT(*) FROM sqlite_master WHERE name='runs'");
    REQUIRE(st.step());
    CHECK(st.integer(0) == 0);  // nothing was added to it
  }

  // Pages zeroed in the middle of a database: quick_check finds it before a run appends.
  const auto damaged = (t.path / "damaged.db").string();
  {
    Store s(damaged, Store::Open::create);
    int64_t e = s.ensure_experiment("exp", "");
    for (int i = 0; i < 300; ++i) s.add_run(e, run_named("h" + std::to_string(i)), {});
    s.db().exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }
  {
    FILE* f = std::fopen(damaged.c_str(), "r+b");
    REQUIRE(f);
    std::fseek(f, 4096 * 3, SEEK_SET);
    std::vector<char> zeros(4096 * 2, 0);
    std::fwrite(zeros.data(), 1, zeros.size(), f);
    std::fclose(f);
  }
  CHECK_THROWS_WITH(
      [&] {
        Store s(damaged, Store::Open::existing);
        s.check_integrity();
      }(),
      doctest::Contains("is damaged (quick_check"));
}

TEST_CASE("a read-only store refuses writes") {
  TempDir t;
  auto path = (t.path / "r.db").string();
  { Store s(path, Store::Open::create); }
  Store ro(path, Store::Open::read_only);
  CHECK_THROWS(ro.db().exec("INSERT INTO experiments(name, created_at) VALUES ('x', 0)"));
  auto st = ro.db().prepare("DELETE FROM runs");
  CHECK_FALSE(st.readonly());
  CHECK(ro.db().prepare("SELECT * FROM runs").readonly());
}
