// `status`, `query`, `export`: reading results databases.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <unistd.h>

#include <chrono>
#include <fmt/format.h>
#include <sqlite3.h>
#include <nlohmann/json.hpp>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/errors.h"
#include "store/store.h"

namespace fs = std::filesystem;

namespace featjnd::cli {
namespace {

using Type = sql::Statement::Type;

std::string column_text(const sql::Statement& st, int i) {
  switch (st.type(i)) {
    case Type::null: return "";
    case Type::real: return fmt::format("{}", st.real(i));
    default: return st.text(i);
  }
}

std::string csv_escape(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string json_text(const nlohmann::json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

// Writes `content` to `path` atomically (or to stdout when path is empty).
void emit(const std::string& path, const std::string& content) {
  if (path.empty()) {
    std::fwrite(content.data(), 1, content.size(), stdout);
    return;
  }
  auto tmp = path + ".partial";
  {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) throw UserError(fmt::format("cannot write '{}'", path));
    out << content;
    if (!out.flush()) throw UserError(fmt::format("cannot write '{}'", path));
  }
  fs::rename(tmp, path);
}

}  // namespace

int cmd_status(const std::vector<std::string>& args) {
  po::options_description opts("status options");
  std::string db;
  opts.add_options()("db", po::value(&db)->required(), "results database");
  po::positional_options_description pos;
  pos.add("db", 1);
  po::variables_map vm;
  if (!parse("status", "DB", args, opts, pos, vm)) return 0;
  Store store(db, Store::Open::read_only);
  auto& d = store.db();
  auto exps = d.prepare("SELECT id, name, description FROM experiments ORDER BY id");
  while (exps.step()) {
    int64_t id = exps.integer(0);
    std::printf("experiment %s%s\n", exps.text(1).c_str(), exps.text(2).empty() ? "" : (": " + exps.text(2)).c_str());
    auto inv = d.prepare(
        "SELECT COUNT(*), MAX(started_at), (SELECT git_commit || CASE git_dirty WHEN 1 THEN '-dirty' ELSE '' END "
        "FROM invocations WHERE experiment_id=?1 ORDER BY id DESC LIMIT 1) FROM invocations WHERE experiment_id=?1");
    inv.bind(1, id);
    if (inv.step() && inv.integer(0) > 0)
      std::printf("  %lld invocation(s); last engine commit %s\n", (long long)inv.integer(0),
                  inv.text(2).substr(0, 19).c_str());
    auto st = d.prepare(
        "SELECT stage, SUM(status='finished'), SUM(status='running'), SUM(status='queued'), SUM(status='failed'), "
        "SUM(status='killed'), COUNT(*) FROM runs WHERE experiment_id=? GROUP BY stage ORDER BY MIN(id)");
    st.bind(1, id);
    std::printf("  %-20s %9s %8s %7s %7s %7s %6s\n", "stage", "finished", "running", "queued", "failed", "killed",
                "total");
    while (st.step())
      std::printf("  %-20s %9lld %8lld %7lld %7lld %7lld %6lld\n", st.text(0).c_str(), (long long)st.integer(1),
                  (long long)st.integer(2), (long long)st.integer(3), (long long)st.integer(4),
                  (long long)st.integer(5), (long long)st.integer(6));
    auto failed = d.prepare(
        "SELECT id, stage, label, status, COALESCE(error, '') FROM runs WHERE experiment_id=? AND status IN "
        "('failed','killed') ORDER BY id");
    failed.bind(1, id);
    bool header = false;
    while (failed.step()) {
      if (!header) std::printf("  not finished:\n");
      header = true;
      std::printf("    #%lld %s %s [%s] %s\n", (long long)failed.integer(0), failed.text(1).c_str(),
                  failed.text(2).c_str(), failed.text(3).c_str(), failed.text(4).c_str());
    }
  }
  return 0;
}

namespace {

// Limits of one query: SQLite's heap (a recursive CTE that never ends otherwise grows until the
// machine swaps; temporary tables are kept in memory so that the cap covers them too), its time
// (one that never ends without growing, e.g. ORDER BY ... LIMIT 1 over it) and the rows held for
// printing.
constexpr int64_t kQueryHeapBytes = int64_t(256) << 20;

struct QueryResult {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;  // text (table, csv)
  nlohmann::json json_rows = nlohmann::json::array();
};

struct Deadline {
  std::chrono::steady_clock::time_point at;
  bool passed = false;
};

int past_deadline(void* p) {
  auto* d = static_cast<Deadline*>(p);
  d->passed = std::chrono::steady_clock::now() > d->at;
  return d->passed ? 1 : 0;  // non-zero interrupts the statement
}

QueryResult run_query(Store& store, const std::string& sql_text, bool as_json, uint64_t max_rows, double timeout_s) {
  std::unique_ptr<sql::Statement> st;
  try {
    st = std::make_unique<sql::Statement>(store.db().raw(), sql_text);
  } catch (const std::exception& e) {
    throw UserError(e.what());
  }
  if (st->has_more_statements())
    throw UserError("query: the SQL holds more than one statement; give one statement per query");
  if (!st->readonly())
    throw UserError("query: the statement would modify the database; `query` opens it read-only (use SELECT)");
  store.db().exec("PRAGMA temp_store = MEMORY");
  sqlite3_hard_heap_limit64(kQueryHeapBytes);
  Deadline deadline{std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                           std::chrono::duration<double>(timeout_s))};
  sqlite3_progress_handler(store.db().raw(), 100000, past_deadline, &deadline);
  QueryResult out;
  for (int i = 0; i < st->columns(); ++i) out.columns.push_back(st->column_name(i));
  try {
    for (uint64_t n = 0; st->step(); ++n) {
      if (n == max_rows)
        throw UserError(fmt::format("query: more than {} rows; add a LIMIT or raise --max-rows", max_rows));
      if (as_json) {
        nlohmann::json row = nlohmann::json::object();
        for (int i = 0; i < st->columns(); ++i) row[out.columns[static_cast<size_t>(i)]] = column_json(*st, i);
        out.json_rows.push_back(row);
      } else {
        std::vector<std::string> row;
        for (int i = 0; i < st->columns(); ++i) row.push_back(column_text(*st, i));
        out.rows.push_back(row);
      }
    }
  } catch (const UserError&) {
    throw;
  } catch (const std::exception& e) {
    std::string what = e.what();
    if (deadline.passed)
      what = fmt::format("query: the statement ran for more than {} s (a recursive CTE without an end?); bound it "
                         "with LIMIT or raise --timeout",
                         timeout_s);
    else if (what.find("out of memory") != std::string::npos)
      what = fmt::format("query: the statement needs more than {} MiB of memory (a recursive CTE without an end?); "
                         "bound it with LIMIT",
                         kQueryHeapBytes >> 20);
    throw UserError(what);
  }
  return out;
}

void print_query(const QueryResult& q, const std::string& format) {
  if (format == "json") {
    std::cout << q.json_rows.dump(2) << "\n";
    return;
  }
  if (format == "csv") {
    for (size_t i = 0; i < q.columns.size(); ++i) std::cout << (i ? "," : "") << csv_escape(q.columns[i]);
    std::cout << "\n";
    for (auto& r : q.rows) {
      for (size_t i = 0; i < r.size(); ++i) std::cout << (i ? "," : "") << csv_escape(r[i]);
      std::cout << "\n";
    }
    return;
  }
  std::vector<size_t> w(q.columns.size());
  for (size_t i = 0; i < q.columns.size(); ++i) w[i] = q.columns[i].size();
  for (auto& r : q.rows)
    for (size_t i = 0; i < r.size(); ++i) w[i] = std::min<size_t>(std::max(w[i], r[i].size()), 60);
  for (size_t i = 0; i < q.columns.size(); ++i) std::cout << fmt::format("{:<{}}  ", q.columns[i], w[i]);
  std::cout << "\n";
  for (auto& r : q.rows) {
    for (size_t i = 0; i < r.size(); ++i) std::cout << fmt::format("{:<{}}  ", r[i], w[i]);
    std::cout << "\n";
  }
}

}  // namespace

int cmd_query(const std::vector<std::string>& args) {
  po::options_description opts("query options");
  std::string db, sql_text, format = "table";
  uint64_t max_rows = 1'000'000;
  double timeout_s = 300;
  opts.add_options()("db", po::value(&db)->required(), "results database")(
      "sql", po::value(&sql_text)->required(), "one read-only SQL statement")(
      "format", po::value(&format)->default_value("table"), "table, csv or json")(
      "max-rows", po::value(&max_rows)->default_value(max_rows), "refuse a result of more rows than this")(
      "timeout", po::value(&timeout_s)->default_value(timeout_s), "stop a statement that runs longer (seconds)");
  po::positional_options_description pos;
  pos.add("db", 1).add("sql", 1);
  po::variables_map vm;
  if (!parse("query", "DB \"SQL\" [--format table|csv|json] [--max-rows N] [--timeout S]", args, opts, pos, vm)) return 0;
  if (format != "table" && format != "csv" && format != "json")
    throw UserError(fmt::format("--format '{}': expected table, csv or json", format));
  Store store(db, Store::Open::read_only);
  print_query(run_query(store, sql_text, format == "json", max_rows, timeout_s), format);
  return 0;
}

namespace {

// Every run of a database with its parameters and every step of its metrics, for `export`.
struct ExportedRun {
  nlohmann::json run;
  std::map<std::string, nlohmann::json> params;
  std::map<std::string, std::vector<std::pair<int64_t, double>>> metrics;
};
struct ExportedRuns {
  std::map<int64_t, ExportedRun> runs;
  std::set<std::string> param_keys, metric_keys;
};

ExportedRuns read_exported(sql::Database& d) {
  ExportedRuns x;
  auto r = d.prepare(
      "SELECT r.id, e.name, r.stage, r.stage_type, r.label, r.status, r.config_hash, r.device, r.start_time, "
      "r.end_time, r.error FROM runs r JOIN experiments e ON e.id = r.experiment_id ORDER BY r.id");
  while (r.step())
    x.runs[r.integer(0)].run = {
        {"id", r.integer(0)},       {"experiment", r.text(1)},          {"stage", r.text(2)},
        {"type", r.text(3)},        {"label", r.text(4)},               {"status", r.text(5)},
        {"config_hash", r.text(6)}, {"device", column_json(r, 7)},      {"start_time", column_json(r, 8)},
        {"end_time", column_json(r, 9)}, {"error", column_json(r, 10)}};
  auto p = d.prepare("SELECT run_id, key, value FROM params");
  while (p.step()) {
    x.runs[p.integer(0)].params[p.text(1)] = column_json(p, 2);
    x.param_keys.insert(p.text(1));
  }
  auto m = d.prepare("SELECT run_id, key, step, value FROM metrics ORDER BY run_id, key, step, rowid");
  while (m.step()) {
    x.runs[m.integer(0)].metrics[m.text(1)].push_back({m.integer(2), m.is_null(3) ? NAN : m.real(3)});
    x.metric_keys.insert(m.text(1));
  }
  return x;
}

// One object per run: its columns, params, each metric's last value, and the series of metrics
// logged at more than one step.
std::string export_json(const ExportedRuns& x) {
  nlohmann::json arr = nlohmann::json::array();
  for (auto& [id, row] : x.runs) {
    nlohmann::json j = row.run;
    j["params"] = row.params;
    nlohmann::json metrics = nlohmann::json::object(), series = nlohmann::json::object();
    for (auto& [k, v] : row.metrics) {
      metrics[k] = v.back().second;
      if (v.size() > 1) {
        nlohmann::json s = nlohmann::json::array();
        for (auto& [step, val] : v) s.push_back({step, val});
        series[k] = s;
      }
    }
    j["metrics"] = metrics;
    j["series"] = series;
    arr.push_back(j);
  }
  return arr.dump(2) + "\n";
}

// One line per run: its columns, then a column per parameter and per metric (last value).
std::string export_csv(const ExportedRuns& x) {
  const std::vector<std::string> base = {"id",          "experiment", "stage",      "type",     "label", "status",
                                         "config_hash", "device",     "start_time", "end_time", "error"};
  std::string line;
  for (auto& b : base) line += (line.empty() ? "" : ",") + b;
  for (auto& k : x.param_keys) line += "," + csv_escape("param:" + k);
  for (auto& k : x.metric_keys) line += "," + csv_escape("metric:" + k);
  std::string out = line + "\n";
  for (auto& [id, row] : x.runs) {
    line.clear();
    for (size_t i = 0; i < base.size(); ++i) line += (i ? "," : "") + csv_escape(json_text(row.run.at(base[i])));
    for (auto& k : x.param_keys) {
      auto it = row.params.find(k);
      line += "," + csv_escape(it != row.params.end() ? json_text(it->second) : "");
    }
    for (auto& k : x.metric_keys) {
      auto it = row.metrics.find(k);
      line += "," + (it != row.metrics.end() ? fmt::format("{}", it->second.back().second) : std::string());
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace

int cmd_export(const std::vector<std::string>& args) {
  po::options_description opts("export options");
  std::string db, format, output;
  opts.add_options()("db", po::value(&db)->required(), "results database")(
      "format", po::value(&format)->required(), "csv (one row per run, last value of each metric) or json "
                                                "(every metric step)")(
      "output,o", po::value(&output), "write to this file instead of stdout");
  po::positional_options_description pos;
  pos.add("db", 1);
  po::variables_map vm;
  if (!parse("export", "DB --format csv|json [-o FILE]", args, opts, pos, vm)) return 0;
  if (format != "csv" && format != "json") throw UserError(fmt::format("--format '{}': expected csv or json", format));
  Store store(db, Store::Open::read_only);
  store.check_integrity();  // results are exported only as they were written (row checksums)
  const ExportedRuns x = read_exported(store.db());
  emit(output, format == "json" ? export_json(x) : export_csv(x));
  return 0;
}

}  // namespace featjnd::cli
