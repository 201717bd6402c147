#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace featjnd {

struct Plan;
class Store;

struct SchedulerOptions {
  std::vector<std::string> devices;
  std::vector<std::string> plugin_files;  // passed to every worker
  std::string database;
  bool interactive = false;  // draw bars (stderr is a terminal)
};

struct SchedulerResult {
  int64_t total = 0, skipped = 0, finished = 0, failed = 0, killed = 0;
  bool interrupted = false;
};

// Runs the selected runs of `plan` with one worker process per device, in dependency order.
// A worker that crashes fails only its current run; Ctrl-C (SIGINT/SIGTERM) stops the sweep and
// marks running runs killed. Runs already finished (same content hash) are skipped.
SchedulerResult run_plan(const Plan& plan, const std::vector<size_t>& selected, Store& store,
                         int64_t experiment_id, int64_t invocation_id, const SchedulerOptions& options);

}  // namespace featjnd
