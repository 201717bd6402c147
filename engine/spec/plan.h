#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace featjnd {

struct Spec;
class PluginRegistry;

// One run of one stage at one point of the grid.
struct PlannedRun {
  size_t index = 0;
  std::string stage;
  std::string type;
  std::string label;  // the swept values that set this run apart
  std::string hash;   // content hash: resolved configuration + its inputs' hashes
  // {stage, type, seed, roles{backbone,task,distortion}, components{name:{kind,plugin,version,
  //  params}}, inputs[hash]}: everything a worker needs to rebuild the run.
  nlohmann::json config;
  std::map<std::string, nlohmann::json> params;  // "component.param" (and "seed") -> value
  std::vector<size_t> deps;                       // upstream runs (indices)
  size_t root = 0;  // the prepare run at the top: runs sharing it share a task network
  // Runs with one network key can share a worker's loaded network and clean features: the same
  // prepared weights and the same backbone and task settings (a split point, for instance).
  std::string network_key;
};

struct Plan {
  std::vector<PlannedRun> runs;  // dependencies always come first
};

// Content of "path" parameters enters a run's hash, so a changed weights file is a new run; a
// model package's folder is identified by its package.json (which lists its files' SHA-256).
class FileHasher {
 public:
  std::string identity(const std::string& path);

 private:
  std::map<std::string, std::string> cache_;
};

// How many runs expand() would build at most (before equal points are merged), per stage the
// product of the sizes of the axes it depends on; saturates at UINT64_MAX.
struct GridSize {
  uint64_t runs = 0;
  uint64_t largest_stage_runs = 0;
  std::string largest_stage, largest_factors;  // "3 noise.sigma × 5 seed"
};
GridSize grid_size(const Spec& spec, const PluginRegistry& plugins);

inline constexpr uint64_t kDefaultMaxRuns = 1'000'000;

// Refuses (UserError) a grid larger than max_runs before building anything.
Plan expand(const Spec& spec, const PluginRegistry& plugins, FileHasher& hasher, uint64_t max_runs = kDefaultMaxRuns);

// A run's phase: 0 for runs without upstream runs, else one more than its deepest upstream run
// (table2.json: prepares 0, fits and the uniform evaluations 1, the other evaluations 2). Every
// upstream run of a phase-p run lies in an earlier phase.
std::vector<int> phases(const Plan& plan);

// Shard i of N, a partition: every run belongs to exactly one shard. Within each phase and stage
// type the runs, ordered by network (their prepare run) and hash, are cut into N contiguous,
// equal-sized chunks (sizes differ by at most one), so that each shard gets its share of every
// kind of work and the evaluations of one network stay together (one worker computes that
// network's features once). A shard executes only its own runs: the upstream runs of its runs
// come from the database (a cluster runs the phases in order, each shard starting from the
// previous phase's merged database: tools/slurm/submit.sh).
std::vector<size_t> shard_runs(const Plan& plan, int shard_index, int shard_count);

}  // namespace featjnd
