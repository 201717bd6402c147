// `export-estimator DB RUN --out DIR`: a fitted FeatJND estimator as a package PyTorch alone
// loads. This side reads the database — the run, its artifacts (checked against their recorded
// SHA-256), where it was fitted and the α its evaluations used — and writes the weights, a
// sample and estimator.json; tools/export_estimator.py scripts the estimator into estimator.pt and
// checks it against the sample. DIR appears complete or not at all.
#include <filesystem>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/html_report.h"
#include "core/build_info.h"
#include "core/errors.h"
#include "core/sha256.h"
#include "store/store.h"

namespace fs = std::filesystem;

namespace featjnd::cli {
namespace {

constexpr const char* kWeights = "featjnd-estimator.safetensors";
constexpr const char* kConfig = "featjnd-estimator.json";
constexpr const char* kSample = "featjnd-estimator-sample.safetensors";

struct FitRun {
  nlohmann::json config;
  std::string hash;
  std::map<std::string, fs::path> artifacts;  // name -> file, checked
};

FitRun fit_run(Store& store, const std::string& db, int64_t id) {
  auto r = store.db().prepare("SELECT stage, stage_type, status, config_json, config_hash FROM runs WHERE id=?");
  r.bind(1, id);
  if (!r.step()) throw UserError(fmt::format("export-estimator: run {} is not in '{}'", id, db));
  if (r.text(1) != "fit")
    throw UserError(fmt::format("export-estimator: run {} ({}) is of type {}; an estimator is fitted by a run of type fit", id,
                                r.text(0), r.text(1)));
  if (r.text(2) != "finished")
    throw UserError(fmt::format("export-estimator: run {} ({}) is {}, not finished", id, r.text(0), r.text(2)));
  FitRun f;
  f.config = nlohmann::json::parse(r.text(3));
  f.hash = r.text(4);
  auto a = store.db().prepare("SELECT name, path, sha256 FROM artifacts WHERE run_id=?");
  a.bind(1, id);
  while (a.step()) {
    fs::path p = a.text(1);
    if (p.is_relative()) p = fs::absolute(db).parent_path() / p;
    if (!fs::exists(p)) throw UserError(fmt::format("export-estimator: run {}'s artifact {} is missing", id, p.string()));
    if (sha256_file(p.string()) != a.text(2))
      throw UserError(fmt::format("export-estimator: {} changed after run {} wrote it (SHA-256 differs)", p.string(), id));
    f.artifacts[a.text(0)] = p;
  }
  if (!f.artifacts.count(kWeights) || !f.artifacts.count(kConfig))
    throw UserError(fmt::format("export-estimator: run {} ({}) fitted no FeatJND estimator (no {})", id, r.text(0),
                                kWeights));
  return f;
}

// The α of the finished evaluations that used this estimator.
nlohmann::json alphas_evaluated(Store& store, int64_t id) {
  auto st = store.db().prepare(
      "SELECT DISTINCT p.value FROM run_deps d JOIN runs r ON r.id = d.run_id JOIN params p ON p.run_id = r.id "
      "WHERE d.dep_run_id = ? AND r.status = 'finished' AND p.key LIKE '%.alpha' ORDER BY p.value");
  st.bind(1, id);
  nlohmann::json out = nlohmann::json::array();
  while (st.step()) out.push_back(column_json(st, 0));
  return out;
}

nlohmann::json component(const nlohmann::json& config, const std::string& role) {
  const auto& roles = config.at("roles");
  if (!roles.contains(role)) return nullptr;
  const auto& name = roles.at(role).get<std::string>();
  nlohmann::json c = config.at("components").at(name);
  c["name"] = name;
  return c;
}

nlohmann::json metadata(Store& store, const std::string& db, int64_t id, const FitRun& f) {
  std::ifstream in(f.artifacts.at(kConfig));
  nlohmann::json m = {{"format", "featjnd-estimator"},
                      {"format_version", 1},
                      {"estimator", nlohmann::json::parse(in)},
                      {"fitted",
                       {{"database", fs::absolute(db).string()},
                        {"run_id", id},
                        {"config_hash", f.hash},
                        {"distortion", component(f.config, "distortion")},
                        {"backbone", component(f.config, "backbone")},
                        {"task", component(f.config, "task")}}},
                      {"alpha_evaluated", alphas_evaluated(store, id)},
                      {"versions", {{"engine", version_line()}}},
                      {"files", {{"estimator.safetensors", sha256_file(f.artifacts.at(kWeights).string())}}}};
  if (f.artifacts.count(kSample)) m["files"]["sample.safetensors"] = sha256_file(f.artifacts.at(kSample).string());
  return m;
}

}  // namespace

int cmd_export_estimator(const std::vector<std::string>& args) {
  po::options_description opts("export-estimator options");
  std::string db, out, python;
  int64_t run = 0;
  opts.add_options()("db", po::value(&db)->required(), "results database")(
      "run", po::value(&run)->required(), "the id of a finished fit run (featjnd-engine status DB lists them)")(
      "out", po::value(&out)->required(), "the package folder to create")(
      "python", po::value(&python), "Python interpreter with torch (default: as for `figures`)");
  po::positional_options_description pos;
  pos.add("db", 1).add("run", 1);
  po::variables_map vm;
  if (!parse("export-estimator", "DB RUN --out DIR [--python PY]", args, opts, pos, vm)) return 0;
  if (fs::exists(out)) throw UserError(fmt::format("export-estimator: '{}' exists; name a new folder", out));
  Store store(db, Store::Open::read_only);
  store.check_integrity();
  const FitRun f = fit_run(store, db, run);
  const fs::path tmp = out + ".partial";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  try {
    fs::copy_file(f.artifacts.at(kWeights), tmp / "estimator.safetensors");
    if (f.artifacts.count(kSample)) fs::copy_file(f.artifacts.at(kSample), tmp / "sample.safetensors");
    std::ofstream(tmp / "estimator.json") << metadata(store, db, run, f).dump(1) << "\n";
    const auto py = python_interpreter(python);
    const auto r = run_python_tool(py, "export_estimator.py", {tmp.string()});
    if (r.status != 0) throw UserError(fmt::format("export-estimator: {} could not script the estimator: {}", py, r.error));
  } catch (...) {
    fs::remove_all(tmp);
    throw;
  }
  fs::rename(tmp, out);
  std::cout << fmt::format("{}: the estimator of run {} (estimator.pt, estimator.json)\n", out, run);
  return 0;
}

}  // namespace featjnd::cli
