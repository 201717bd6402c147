// featjnd-engine: the command-line host. Every error ends as one line on stderr and a non-zero
// exit status.
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <unistd.h>

#include <boost/program_options/errors.hpp>
#include <fmt/format.h>
#include "featjnd/torch_version.h"

#include "cli/commands.h"
#include "core/build_info.h"
#include "core/errors.h"
#include "featjnd/plugin_api.h"
#include "featjnd/version.h"
#include "plugin_host/plugin_registry.h"
#include "spec/spec.h"

namespace featjnd {
std::string version_line() {
  std::string commit = kGitCommit;
  return fmt::format("featjnd-engine {} (git {}{}, LibTorch {}, plugin API {})", FEATJND_ENGINE_VERSION,
                     commit.substr(0, 12), kGitDirty ? "-dirty" : "", FEATJND_TORCH_VERSION,
                     FEATJND_PLUGIN_API_VERSION);
}
}  // namespace featjnd

namespace {

const char* kUsage = R"(usage: featjnd-engine <command> [options]

Commands:
  run SPEC       expand an experiment spec into runs and execute them (resumable)
  status DB      runs per stage and status, failures, invocations
  query DB SQL   run a read-only SQL statement against a results database
  export DB      runs with their parameters and metrics as CSV or JSON
  export-estimator DB RUN --out DIR
                 a fitted FeatJND estimator as TorchScript with its metadata
  report DB      the paper's tables (text, JSON, Table 2) or one HTML page (--html FILE)
  figures DB     the paper's figures as PNG and PDF (tools/plot_figures.py)
  merge OUT DB…  combine shard databases into one
  plugins        list the plugins found on the plugin path
  bench store    measure the results store's metric insert rate
  coco-eval      COCO bbox/segm statistics of a results file (pycocotools' semantics)

  --version      print the engine, git, LibTorch and plugin API versions
  --help         this text; `featjnd-engine <command> --help` for a command's options
)";

#ifndef FEATJND_TENSOR_COMMANDS
// The front end links no LibTorch: the commands that need tensors run in featjnd-engine-torch,
// beside this executable, which replaces this process (same pid, arguments, streams and signals).
[[noreturn]] void hand_to_torch_engine(char** argv) {
  const std::string path = featjnd::executable_dir() + "/featjnd-engine-torch";
  argv[0] = const_cast<char*>(path.c_str());
  execv(path.c_str(), argv);
  std::fprintf(stderr, "featjnd-engine: error: cannot start '%s' (%s); it is built and installed beside featjnd-engine\n",
               path.c_str(), std::strerror(errno));
  std::exit(127);
}
#endif

}  // namespace

int main(int argc, char** argv) {
  using namespace featjnd;
  // Past `ulimit -f` the kernel would kill the process with SIGXFSZ without a word; ignored, the
  // write fails with EFBIG and the error names it (workers inherit the disposition through exec).
  std::signal(SIGXFSZ, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string cmd = args.front();
  std::vector<std::string> rest(args.begin() + 1, args.end());
  try {
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (cmd == "--version" || cmd == "version") {
      std::puts(version_line().c_str());
      return 0;
    }
#ifdef FEATJND_TENSOR_COMMANDS
    if (cmd == "run") return cli::cmd_run(rest);
    if (cmd == "plugins") return cli::cmd_plugins(rest);
    if (cmd == "worker") return cli::cmd_worker(rest);
#else
    if (cmd == "run" || cmd == "plugins" || cmd == "worker") hand_to_torch_engine(argv);
#endif
    if (cmd == "status") return cli::cmd_status(rest);
    if (cmd == "query") return cli::cmd_query(rest);
    if (cmd == "export") return cli::cmd_export(rest);
    if (cmd == "merge") return cli::cmd_merge(rest);
    if (cmd == "bench") return cli::cmd_bench(rest);
    if (cmd == "report") return cli::cmd_report(rest);
    if (cmd == "coco-eval") return cli::cmd_coco_eval(rest);
    if (cmd == "figures") return cli::cmd_figures(rest);
    if (cmd == "export-estimator") return cli::cmd_export_estimator(rest);
    throw UserError(fmt::format("unknown command '{}'; expected run, status, query, export, export-estimator, merge, "
                                "plugins, report, figures, bench, coco-eval (see --help)",
                                cmd));
  } catch (const boost::program_options::error& e) {
    std::fprintf(stderr, "featjnd-engine: error: %s: %s (see featjnd-engine %s --help)\n", cmd.c_str(), e.what(),
                 cmd.c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "featjnd-engine: error: %s\n", e.what());
    return 1;
  }
}
