// `figures DB [--out DIR]`: the paper's figures from a results database, drawn by
// tools/plot_figures.py (matplotlib) from this engine's `report --format json`.
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/errors.h"
#include "cli/html_report.h"

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

std::string python_interpreter(const std::string& option) {
  if (!option.empty()) return option;
  if (const char* env = std::getenv("FEATJND_PYTHON"); env && *env) return env;
  if (fs::exists(FEATJND_DEFAULT_PYTHON)) return FEATJND_DEFAULT_PYTHON;
  return "python3";
}

namespace {

// Runs argv (argv[0] looked up on PATH when it has no '/'); the child's stderr goes to `err_path`.
int run_process(const std::vector<std::string>& argv, const std::string& err_path) {
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    if (FILE* err = std::freopen(err_path.c_str(), "w", stderr); !err) _exit(126);
    execvp(args[0], args.data());
    std::fprintf(stderr, "cannot run %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string last_line(const std::string& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t") != std::string::npos) last = line;
  return last;
}

}  // namespace

ToolResult run_python_tool(const std::string& python, const std::string& tool, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {python, tool_path(tool)};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto err_path = (fs::temp_directory_path() / fmt::format("featjnd-tool-{}.err", getpid())).string();
  ToolResult r;
  r.status = run_process(argv, err_path);
  if (r.status == 0) {
    std::ifstream in(err_path);  // warnings of a successful run, as they were
    std::cerr << in.rdbuf();
  } else {
    r.error = last_line(err_path);
    if (r.error.empty()) r.error = fmt::format("exit status {}", r.status);
  }
  std::error_code ec;
  fs::remove(err_path, ec);
  return r;
}

ToolResult draw_figures(const std::string& db, const std::string& out, const std::string& json,
                        const std::string& python) {
  std::vector<std::string> args = {db, out, "--engine", self_path()};
  if (!json.empty()) args.insert(args.end(), {"--json", json});
  return run_python_tool(python, "plot_figures.py", args);
}

int cmd_figures(const std::vector<std::string>& args) {
  po::options_description opts("figures options");
  std::string db, out, python;
  opts.add_options()("db", po::value(&db)->required(), "results database")(
      "out", po::value(&out), "folder for the PNG and PDF files (default: <database>-figures beside it)")(
      "python", po::value(&python), "Python interpreter with matplotlib (default: $FEATJND_PYTHON, else " FEATJND_DEFAULT_PYTHON
      " where it exists, else python3 on PATH)");
  po::positional_options_description pos;
  pos.add("db", 1);
  po::variables_map vm;
  if (!parse("figures", "DB [--out DIR] [--python PY]", args, opts, pos, vm)) return 0;
  if (!fs::exists(db)) throw UserError(fmt::format("database '{}' does not exist", db));
  if (out.empty()) out = (fs::path(db).parent_path() / (fs::path(db).stem().string() + "-figures")).string();
  const auto py = python_interpreter(python);
  const auto r = draw_figures(db, out, "", py);
  if (r.status != 0) throw UserError(fmt::format("figures: no figures drawn with {}: {}", py, r.error));
  return 0;
}

}  // namespace featjnd::cli
