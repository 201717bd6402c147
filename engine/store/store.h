#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/sqlite.h"

namespace featjnd {

struct PlannedRun;

struct PluginProvenance {
  std::string kind, name, version, file, file_sha256;
};

// What an engine invocation records beside every run it executes.
struct Provenance {
  std::string engine_version, git_commit, torch_version;
  bool git_dirty = false;
  std::string host, command, spec_file, spec_hash, shard;
  nlohmann::json spec_json;                             // after the overrides
  nlohmann::json overrides = nlohmann::json::array();  // [{path, pointer, value}] from --set
  int64_t pid = 0;
  std::vector<PluginProvenance> plugins;
};

struct MetricRow {
  int64_t run_id;
  std::string key;
  double value;
  int64_t step;
  double timestamp;
};

struct RunState {
  int64_t id = 0;
  std::string status;
  int attempt = 0;
  std::optional<int64_t> invocation_id;
};

double now_seconds();
std::string host_name();

// The results database: schema, migrations and every write the engine makes. Layout follows
// MLflow (runs / immutable params / step-indexed metrics / artifacts) and Optuna (a one-row
// schema version, heartbeats), with provenance per invocation.
class Store {
 public:
  enum class Open { create, existing, read_only };
  static constexpr int kSchemaVersion = 4;

  Store(const std::string& path, Open mode);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  sql::Database& db() { return *db_; }
  const std::string& path() const { return path_; }
  int schema_version();
  // Directory where this database keeps its artifacts (beside the .db file).
  std::string artifact_root() const;

  int64_t ensure_experiment(const std::string& name, const std::string& description);
  int64_t begin_invocation(int64_t experiment_id, const Provenance& p);
  void end_invocation(int64_t invocation_id, int exit_status);

  // A shard's database started from `base` (the previous phase's merged database): when `path`
  // does not exist yet, it becomes a consistent copy of `base` (VACUUM INTO, then a rename); when
  // it exists (a resumed shard), nothing happens. Both must lie in one folder, where the copied
  // artifact paths (relative to it) still resolve.
  static void start_from(const std::string& base, const std::string& path);

  // The run with this content hash, if the database holds it.
  std::optional<RunState> find_run(const std::string& hash);

  // Inserts the run unless its hash is known; returns its id and state.
  RunState add_run(int64_t experiment_id, const PlannedRun& run, const std::vector<int64_t>& deps);
  // Whether the engine that owns a 'running' run is still alive: its invocation's lease is held
  // (this host), or its heartbeat is fresh (another host).
  bool owner_alive(int64_t run_id);
  // Takes the lease of this process's invocation (held until the Store is destroyed or the
  // process ends).
  void take_lease(int64_t invocation_id);
  // Puts a run back in the queue if it is still in the state `seen` (compare and set), deleting
  // what the unfinished attempt left behind; false when another engine changed it meanwhile.
  bool requeue(int64_t run_id, const RunState& seen);
  // PRAGMA quick_check (the file's structure), then every row's checksum (its values): one line
  // naming the first problem and how many more, as a UserError.
  void check_integrity();
  // queued -> running, atomically; false if someone else took it.
  bool claim(int64_t run_id, int64_t invocation_id, const std::string& device);
  void set_worker_pid(int64_t run_id, int64_t pid);
  void mark(int64_t run_id, const std::string& status, const std::string& error = {},
            std::optional<int> exit_status = std::nullopt, std::optional<int> signal = std::nullopt);
  void heartbeat(int64_t run_id);

  void insert_metrics(const std::vector<MetricRow>& rows);  // one transaction
  void add_artifact(int64_t run_id, const std::string& name, const std::string& kind,
                    const std::string& abs_path);
  // Flushes `rows`, then marks the run finished, in one transaction.
  void finish(int64_t run_id, const std::vector<MetricRow>& rows);
  std::map<std::string, std::string> artifacts_of(int64_t run_id);  // name -> absolute path
  void set_tag(int64_t run_id, const std::string& key, const std::string& value);

 private:
  void migrate();
  void check_checksums();
  void refuse_foreign();
  std::string lease_path(int64_t invocation_id) const;
  bool lease_held(int64_t invocation_id) const;
  int lease_fd_ = -1;
  int64_t lease_invocation_ = -1;
  void write_metric_rows(const std::vector<MetricRow>& rows);  // inside the caller's transaction
  std::string path_;
  std::unique_ptr<sql::Database> db_;
};

// Binds a JSON value into a column without type (numbers stay numbers, strings stay text).
void bind_json(sql::Statement& st, int index, const nlohmann::json& v);

}  // namespace featjnd
