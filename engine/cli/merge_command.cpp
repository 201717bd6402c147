// `merge`: shard databases into one. Every input is checked before the first row is copied (an
// engine database, this schema version, quick_check, no dangling reference); the result is built
// under a temporary name and renamed at the end, and a failure removes it: a failed merge leaves
// nothing.
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/errors.h"
#include "store/store.h"

namespace fs = std::filesystem;

namespace featjnd::cli {
namespace {

void check_input(const std::string& path) {
  if (!fs::exists(path)) throw UserError(fmt::format("database '{}' does not exist", path));
  Store in(path, Store::Open::read_only);  // refuses another application's file
  if (in.schema_version() != Store::kSchemaVersion)
    throw UserError(fmt::format("'{}' has schema version {}; open it once with this engine (featjnd-engine run or a "
                                "newer merge) to migrate it to {}",
                                path, in.schema_version(), Store::kSchemaVersion));
  in.check_integrity();
  // The schema declares every reference (runs -> experiments, invocations; dependencies, params,
  // metrics, artifacts, tags -> runs): a row pointing at nothing is named here, not met halfway.
  auto fk = in.db().prepare("PRAGMA foreign_key_check");
  if (fk.step())
    throw UserError(fmt::format("'{}' is inconsistent: row {} of table {} refers to a missing row of {}; merge copies "
                                "only consistent databases",
                                path, fk.is_null(1) ? std::string("?") : std::to_string(fk.integer(1)), fk.text(0),
                                fk.text(2)));
}

// Where one input's rows went in the output.
struct IdMaps {
  std::map<int64_t, int64_t> experiments, invocations, runs;
};

struct MergeCounts {
  int64_t copied = 0, replaced = 0, duplicates = 0;
};

void copy_experiments(sql::Database& in, sql::Database& o, IdMaps& ids) {
  auto e = in.prepare("SELECT id, name, description, created_at FROM experiments");
  while (e.step()) {
    auto sel = o.prepare("SELECT id FROM experiments WHERE name=?");
    sel.bind(1, e.text(1));
    if (sel.step()) {
      ids.experiments[e.integer(0)] = sel.integer(0);
      continue;
    }
    o.prepare("INSERT INTO experiments(name, description, created_at) VALUES (?,?,?)")
        .bind(1, e.text(1)).bind(2, e.text(2)).bind(3, e.real(3)).run();
    ids.experiments[e.integer(0)] = o.last_insert_id();
  }
}

void copy_invocations(sql::Database& in, sql::Database& o, IdMaps& ids) {
  const char* cols =
      "started_at, ended_at, exit_status, host, pid, command, spec_file, spec_hash, spec_json, shard, "
      "engine_version, git_commit, git_dirty, torch_version, overrides";
  auto iv = in.prepare(fmt::format("SELECT id, experiment_id, {} FROM invocations", cols));
  auto ins = o.prepare(fmt::format("INSERT INTO invocations(experiment_id, {}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", cols));
  // A shard started from an earlier phase's database (run --base) carries that phase's invocations:
  // one invocation (same start, host, process and command) is kept once.
  auto same = o.prepare("SELECT id FROM invocations WHERE started_at=? AND host=? AND pid=? AND command=?");
  std::set<int64_t> known;
  while (iv.step()) {
    same.bind(1, iv.real(2)).bind(2, iv.text(5)).bind(3, iv.integer(6)).bind(4, iv.text(7));
    const bool seen = same.step();
    if (seen) ids.invocations[iv.integer(0)] = same.integer(0), known.insert(iv.integer(0));
    same.reset();
    if (seen) continue;
    ins.bind(1, ids.experiments.at(iv.integer(1)));
    for (int c = 2; c < iv.columns(); ++c) bind_json(ins, c, column_json(iv, c));
    ins.run();
    ins.reset();
    ids.invocations[iv.integer(0)] = o.last_insert_id();
  }
  auto pv = in.prepare("SELECT invocation_id, kind, name, version, file, file_sha256 FROM plugin_versions");
  while (pv.step())
    if (!known.count(pv.integer(0)))
      o.prepare("INSERT INTO plugin_versions VALUES (?,?,?,?,?,?)")
        .bind(1, ids.invocations.at(pv.integer(0))).bind(2, pv.text(1)).bind(3, pv.text(2)).bind(4, pv.text(3))
        .bind(5, pv.text(4)).bind(6, pv.text(5)).run();
}

constexpr const char* kRunColumns =
    "config_hash, stage, stage_type, label, config_json, status, attempt, device, host, pid, queued_at, "
    "start_time, end_time, heartbeat, error, exit_status, signal";

// Our copy of a run is unfinished and the input's is finished: take the input's state.
void replace_unfinished(sql::Database& o, const sql::Statement& rr, int64_t target, const IdMaps& ids) {
  for (const char* q : {"DELETE FROM metrics WHERE run_id=?", "DELETE FROM artifacts WHERE run_id=?",
                        "DELETE FROM tags WHERE run_id=?"})
    o.prepare(q).bind(1, target).run();
  auto up = o.prepare(
      "UPDATE runs SET status=?, attempt=?, device=?, host=?, pid=?, start_time=?, end_time=?, heartbeat=?, "
      "error=?, exit_status=?, signal=?, invocation_id=? WHERE id=?");
  const int cols[] = {8, 9, 10, 11, 12, 14, 15, 16, 17, 18, 19};
  for (int k = 0; k < 11; ++k) bind_json(up, k + 1, column_json(rr, cols[k]));
  if (rr.is_null(2)) up.bind_null(12); else up.bind(12, ids.invocations.at(rr.integer(2)));
  up.bind(13, target).run();
}

int64_t insert_run(sql::Database& in, sql::Database& o, const sql::Statement& rr, const IdMaps& ids) {
  auto ins = o.prepare(fmt::format(
      "INSERT INTO runs(experiment_id, invocation_id, {}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", kRunColumns));
  ins.bind(1, ids.experiments.at(rr.integer(1)));
  if (rr.is_null(2)) ins.bind_null(2); else ins.bind(2, ids.invocations.at(rr.integer(2)));
  for (int c = 3; c < rr.columns(); ++c) bind_json(ins, c, column_json(rr, c));
  ins.run();
  const int64_t target = o.last_insert_id();
  // The output's own checksums (schema 4), from the values as copied.
  o.prepare("UPDATE runs SET crc = featjnd_crc(config_hash, stage, stage_type, label, config_json) WHERE id=?")
      .bind(1, target).run();
  auto pp = in.prepare("SELECT key, value FROM params WHERE run_id=?");
  pp.bind(1, rr.integer(0));
  while (pp.step()) {
    auto pi = o.prepare("INSERT INTO params(run_id, key, value, crc) VALUES (?1,?2,?3, featjnd_crc(?1,?2,?3))");
    pi.bind(1, target).bind(2, pp.text(0));
    bind_json(pi, 3, column_json(pp, 1));
    pi.run();
  }
  return target;
}

// Metrics, artifacts (their paths made relative to the output's folder) and tags of one run.
void copy_outputs(sql::Database& in, sql::Database& o, int64_t src, int64_t target, const fs::path& in_dir,
                  const fs::path& out_dir) {
  auto mm = in.prepare("SELECT key, value, step, timestamp FROM metrics WHERE run_id=? ORDER BY rowid");
  mm.bind(1, src);
  auto mi = o.prepare("INSERT INTO metrics(run_id, key, value, step, timestamp, crc) "
                      "VALUES (?1,?2,?3,?4,?5, featjnd_crc(?1,?2,?3,?4,?5))");
  while (mm.step()) {
    mi.bind(1, target).bind(2, mm.text(0));
    bind_json(mi, 3, column_json(mm, 1));
    mi.bind(4, mm.integer(2)).bind(5, mm.real(3));
    mi.run();
    mi.reset();
  }
  auto aa = in.prepare("SELECT name, kind, path, sha256, bytes FROM artifacts WHERE run_id=?");
  aa.bind(1, src);
  while (aa.step()) {
    fs::path p = aa.text(2);
    if (!p.is_absolute()) p = in_dir / p;
    std::error_code ec;
    auto rel = fs::relative(p.lexically_normal(), out_dir, ec);
    o.prepare("INSERT INTO artifacts(run_id, name, kind, path, sha256, bytes, crc) "
              "VALUES (?1,?2,?3,?4,?5,?6, featjnd_crc(?1,?2,?3,?4,?5,?6))")
        .bind(1, target).bind(2, aa.text(0)).bind(3, aa.text(1)).bind(4, ec ? p.string() : rel.string())
        .bind(5, aa.text(3)).bind(6, aa.integer(4)).run();
  }
  auto tg = in.prepare("SELECT key, value FROM tags WHERE run_id=?");
  tg.bind(1, src);
  while (tg.step())
    o.prepare("INSERT OR REPLACE INTO tags(run_id, key, value) VALUES (?,?,?)")
        .bind(1, target).bind(2, tg.text(0)).bind(3, tg.text(1)).run();
}

// A run computed in several shards (an upstream run) is kept once; a finished copy wins over an
// unfinished one.
void copy_runs(sql::Database& in, sql::Database& o, IdMaps& ids, MergeCounts& n, const fs::path& in_dir,
               const fs::path& out_dir) {
  auto rr = in.prepare(fmt::format("SELECT id, experiment_id, invocation_id, {} FROM runs ORDER BY id", kRunColumns));
  while (rr.step()) {
    const int64_t src = rr.integer(0);
    auto sel = o.prepare("SELECT id, status FROM runs WHERE config_hash=?");
    sel.bind(1, rr.text(3));
    int64_t target = 0;
    if (sel.step()) {
      target = sel.integer(0);
      ids.runs[src] = target;
      if (sel.text(1) == "finished" || rr.text(8) != "finished") {
        ++n.duplicates;
        continue;
      }
      replace_unfinished(o, rr, target, ids);
      ++n.replaced;
    } else {
      target = insert_run(in, o, rr, ids);
      ids.runs[src] = target;
      ++n.copied;
    }
    copy_outputs(in, o, src, target, in_dir, out_dir);
  }
  auto dd = in.prepare("SELECT run_id, dep_run_id FROM run_deps");
  while (dd.step())
    o.prepare("INSERT OR IGNORE INTO run_deps(run_id, dep_run_id) VALUES (?,?)")
        .bind(1, ids.runs.at(dd.integer(0))).bind(2, ids.runs.at(dd.integer(1))).run();
}

void remove_database_files(const std::string& path) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path + suffix, ec);
}

MergeCounts merge_into(const std::string& tmp, const std::string& out_path, const std::vector<std::string>& inputs) {
  MergeCounts n;
  Store out(tmp, Store::Open::create);
  auto& o = out.db();
  const auto out_dir = fs::absolute(fs::path(out_path)).parent_path();
  sql::Transaction tx(o);
  for (auto& in_path : inputs) {
    sql::Database in(in_path, sql::Database::Mode::read_only);
    IdMaps ids;
    copy_experiments(in, o, ids);
    copy_invocations(in, o, ids);
    copy_runs(in, o, ids, n, fs::absolute(fs::path(in_path)).parent_path(), out_dir);
  }
  tx.commit();
  o.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  return n;
}

}  // namespace

int cmd_merge(const std::vector<std::string>& args) {
  po::options_description opts("merge options");
  std::string out_path;
  std::vector<std::string> inputs;
  opts.add_options()("out", po::value(&out_path)->required(), "database to create")(
      "inputs", po::value(&inputs)->composing()->required(), "shard databases");
  po::positional_options_description pos;
  pos.add("out", 1).add("inputs", -1);
  po::variables_map vm;
  if (!parse("merge", "OUT.db A.db B.db ...", args, opts, pos, vm)) return 0;
  if (fs::exists(out_path)) throw UserError(fmt::format("'{}' exists; merge writes a new database", out_path));
  for (auto& in : inputs) check_input(in);
  const auto tmp = out_path + ".partial";
  remove_database_files(tmp);
  MergeCounts n;
  try {
    n = merge_into(tmp, out_path, inputs);
  } catch (...) {
    remove_database_files(tmp);
    throw;
  }
  fs::rename(tmp, out_path);
  remove_database_files(tmp);
  std::fprintf(stderr, "merged %zu databases into %s: %lld runs copied, %lld unfinished copies replaced, %lld "
               "duplicates skipped\n",
               inputs.size(), out_path.c_str(), (long long)n.copied, (long long)n.replaced, (long long)n.duplicates);
  return 0;
}

}  // namespace featjnd::cli
