// `figures DB [--out DIR]`: the paper's figures from a results database, drawn by
// tools/plot_figures.py (matplotlib) from this engine's `report --format json`.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/errors.h"

namespace fs = std::filesystem;

namespace featjnd::cli {

std::string self_path() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("featjnd-engine") : p.string();
}

std::string tool_path(const std::string& name) {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("FEATJND_TOOLS_DIR")) candidates.push_back(fs::path(env) / name);
  candidates.push_back(fs::path(self_path()).parent_path() / ".." / "share" / "featjnd" / name);  // installed
  candidates.push_back(fs::path(FEATJND_SOURCE_TOOLS_DIR) / name);                                 // the build tree
  for (auto& c : candidates)
    if (fs::exists(c)) return fs::canonical(c).string();
  throw UserError(fmt::format("cannot find tools/{} (set FEATJND_TOOLS_DIR to the folder that holds it)", name));
}

int run_process(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    execv(args[0], args.data());
    std::fprintf(stderr, "featjnd-engine: error: cannot run %s\n", args[0]);
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int draw_figures(const std::string& db, const std::string& out, const std::string& json) {
  std::vector<std::string> argv = {"/usr/bin/python3", tool_path("plot_figures.py"), db, out, "--engine", self_path()};
  if (!json.empty()) argv.insert(argv.end(), {"--json", json});
  return run_process(argv);
}

int cmd_figures(const std::vector<std::string>& args) {
  po::options_description opts("figures options");
  std::string db, out;
  opts.add_options()("db", po::value(&db)->required(), "results database")(
      "out", po::value(&out), "folder for the PNG and PDF files (default: <database>-figures beside it)");
  po::positional_options_description pos;
  pos.add("db", 1);
  po::variables_map vm;
  if (!parse("figures", "DB [--out DIR]", args, opts, pos, vm)) return 0;
  if (!fs::exists(db)) throw UserError(fmt::format("database '{}' does not exist", db));
  if (out.empty()) out = (fs::path(db).parent_path() / (fs::path(db).stem().string() + "-figures")).string();
  const int rc = draw_figures(db, out, "");
  if (rc != 0) throw UserError(fmt::format("figures: tools/plot_figures.py exited with status {}", rc));
  return 0;
}

}  // namespace featjnd::cli
