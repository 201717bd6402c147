// `bench store`: metric insert throughput of the results store (a benchmark, not a test).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <unistd.h>

#include <fmt/format.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/errors.h"
#include "spec/plan.h"
#include "store/store.h"

namespace fs = std::filesystem;

namespace featjnd::cli {

int cmd_bench(const std::vector<std::string>& args) {
  po::options_description opts("bench options");
  std::string what;
  int64_t rows = 200000, batch = 4096, single = 2000;
  opts.add_options()("what", po::value(&what)->required(), "store")(
      "rows", po::value(&rows)->default_value(200000), "metric rows to insert in batches")(
      "batch", po::value(&batch)->default_value(4096), "rows per transaction")(
      "single", po::value(&single)->default_value(2000), "rows inserted one transaction each, for the ratio");
  po::positional_options_description pos;
  pos.add("what", 1);
  po::variables_map vm;
  if (!parse("bench", "store [--rows N] [--batch N]", args, opts, pos, vm)) return 0;
  if (what != "store") throw UserError(fmt::format("bench '{}': expected 'store'", what));
  if (rows < 1 || batch < 1 || single < 1) throw UserError("--rows, --batch and --single must be positive");

  auto dir = fs::temp_directory_path() / fmt::format("featjnd-bench-{}", getpid());
  fs::create_directories(dir);
  double batched_rate = 0, single_rate = 0, verify_seconds = 0;
  {
    Store store((dir / "bench.db").string(), Store::Open::create);
    int64_t exp = store.ensure_experiment("bench", "");
    PlannedRun run;
    run.stage = "bench";
    run.type = "evaluate";
    run.hash = "bench";
    run.config = nlohmann::json::object();
    int64_t id = store.add_run(exp, run, {}).id;
    using clk = std::chrono::steady_clock;
    std::vector<MetricRow> buf;
    auto t0 = clk::now();
    for (int64_t i = 0; i < rows; ++i) {
      buf.push_back({id, "train.loss", 1.0 / double(i + 1), i, double(i)});
      if (static_cast<int64_t>(buf.size()) == batch) {
        store.insert_metrics(buf);
        buf.clear();
      }
    }
    store.insert_metrics(buf);
    double secs = std::chrono::duration<double>(clk::now() - t0).count();
    batched_rate = double(rows) / secs;
    t0 = clk::now();
    for (int64_t i = 0; i < single; ++i) store.insert_metrics({{id, "single", double(i), i, double(i)}});
    secs = std::chrono::duration<double>(clk::now() - t0).count();
    single_rate = double(single) / secs;
    // What `report`, `export`, `merge` and `run` pay before reading: quick_check and every row's
    // checksum.
    t0 = clk::now();
    store.check_integrity();
    verify_seconds = std::chrono::duration<double>(clk::now() - t0).count();
  }
  fs::remove_all(dir);
  std::printf("store metric inserts (WAL, synchronous=NORMAL)\n");
  std::printf("  batched, %lld rows/transaction: %12.0f rows/s  (%lld rows)\n", (long long)batch, batched_rate,
              (long long)rows);
  std::printf("  one row per transaction:        %12.0f rows/s  (%lld rows)\n", single_rate, (long long)single);
  std::printf("  ratio batched/single:           %12.1fx\n", batched_rate / single_rate);
  std::printf("  integrity check (quick_check and every row's checksum): %.3f s for %lld rows (%.0f rows/s)\n",
              verify_seconds, (long long)(rows + single), double(rows + single) / verify_seconds);
  return 0;
}

}  // namespace featjnd::cli
