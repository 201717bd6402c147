#include <doctest/doctest.h>

#include <filesystem>
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
    // Roll the file back to version 1 by undoing migrations 3 and 2.
    s.db().exec("ALTER TABLE invocations DROP COLUMN overrides; DROP INDEX runs_by_status; DROP TABLE tags; "
                "UPDATE schema_version SET version = 1");
  }
  {
    Store s(path, Store::Open::existing);
    CHECK(s.schema_version() == 3);
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

  // A half-done attempt is cleared before it is redone.
  s.requeue(r.id);
  CHECK(count(s, "SELECT COUNT(*) FROM metrics") == 0);
  CHECK(count(s, "SELECT COUNT(*) FROM runs WHERE status='queued'") == 1);
  CHECK(s.claim(r.id, inv, "cpu"));
  s.finish(r.id, {{r.id, "top1", 0.9, 0, 0.0}});
  CHECK(count(s, "SELECT COUNT(*) FROM runs WHERE status='finished' AND attempt=2") == 1);
  // A finished run is never marked otherwise.
  s.mark(r.id, "failed", "late");
  CHECK(count(s, "SELECT COUNT(*) FROM runs WHERE status='finished'") == 1);
}

TEST_CASE("a run whose owner process is gone is not alive") {
  TempDir t;
  Store s((t.path / "r.db").string(), Store::Open::create);
  int64_t e = s.ensure_experiment("exp", "");
  Provenance p;
  p.host = host_name();
  p.pid = 999999999;  // no such process
  p.spec_json = nlohmann::json::object();
  int64_t inv = s.begin_invocation(e, p);
  auto r = s.add_run(e, run_named("h"), {});
  REQUIRE(s.claim(r.id, inv, "cpu"));
  CHECK_FALSE(s.owner_alive(r.id));
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
