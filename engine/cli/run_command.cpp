// `run`, `plugins` and the hidden `worker` command.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>
#include <unistd.h>

#include <fmt/format.h>
#include <torch/version.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/build_info.h"
#include "core/errors.h"
#include "core/sha256.h"
#include "featjnd/version.h"
#include "plugin_host/plugin_registry.h"
#include "scheduler/scheduler.h"
#include "spec/plan.h"
#include "spec/spec.h"
#include "store/store.h"
#include "worker/worker.h"

namespace fs = std::filesystem;

namespace featjnd::cli {
namespace {

PluginRegistry load_plugins(const std::vector<std::string>& extra_dirs) {
  PluginRegistry reg;
  reg.load_dirs(PluginRegistry::search_dirs(extra_dirs));
  if (!reg.errors().empty()) {
    for (size_t i = 0; i + 1 < reg.errors().size(); ++i)
      std::fprintf(stderr, "featjnd-engine: error: %s\n", reg.errors()[i].c_str());
    throw UserError(reg.errors().back());
  }
  return reg;
}

std::pair<int, int> parse_shard(const std::string& s) {
  int i = -1, n = -1;
  char slash = 0;
  std::istringstream in(s);
  if (!(in >> i >> slash >> n) || slash != '/' || !in.eof() || n < 1 || i < 0 || i >= n)
    throw UserError(fmt::format("--shard '{}': expected i/N with 0 ≤ i < N (for example 0/4)", s));
  return {i, n};
}

// Every comma separates two entries: "," is two empty devices, refused by check_devices.
std::vector<std::string> split_devices(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    auto comma = s.find(',', start);
    out.push_back(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

// Before anything is written: every file or folder a path parameter names must exist.
void preflight(const Spec& spec, const Plan& plan, const std::vector<size_t>& selected,
               const PluginRegistry& plugins, const std::vector<std::string>& devices) {
  std::set<std::string> reported;
  for (size_t i : selected) {
    const auto& comps = plan.runs[i].config.at("components");
    for (auto it = comps.begin(); it != comps.end(); ++it) {
      const auto* rec = plugins.find(it.value().at("kind").get<std::string>(), it.value().at("plugin").get<std::string>());
      for (auto& p : rec->params) {
        if (p.type != "path") continue;
        const auto& v = it.value().at("params").at(p.name);
        if (!v.is_string() || v.get<std::string>().empty()) continue;
        auto path = v.get<std::string>();
        if (fs::exists(path) || reported.count(path)) continue;
        reported.insert(path);
        throw UserError(fmt::format("{}: /components/{}/params/{}: '{}' does not exist ({}); it is needed by "
                                    "stage '{}'",
                                    spec.file, it.key(), p.name, path, p.doc, plan.runs[i].stage));
      }
    }
  }
  int cuda = -1;
  for (auto& d : devices) {
    if (d.rfind("cuda:", 0) != 0) continue;
    if (cuda < 0) cuda = cuda_device_count();
    int idx = std::stoi(d.substr(5));  // at most 4 digits: check_devices
    if (idx >= cuda)
      throw UserError(fmt::format("device {} is not available: this machine has {} CUDA device{} (LibTorch {})",
                                  d, cuda, cuda == 1 ? "" : "s", TORCH_VERSION));
  }
}

void print_plan(const Spec& spec, const Plan& plan, const std::vector<size_t>& selected,
                const std::string& db, const std::string& shard) {
  std::map<std::string, int> per_type;
  std::map<int, int> per_phase;
  const auto phase = phases(plan);
  for (size_t i : selected) per_type[plan.runs[i].type]++, per_phase[phase[i]]++;
  std::string counts, phase_counts;
  for (auto& t : {"prepare", "fit", "evaluate", "inspect"})
    if (per_type.count(t)) counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", per_type[t], t);
  for (auto& [p, n] : per_phase) phase_counts += fmt::format("{}{}: {}", phase_counts.empty() ? "" : ", ", p, n);
  std::printf("experiment %s: %zu runs (%s) by phase (%s)%s -> %s\n", spec.name.c_str(), selected.size(),
              counts.c_str(), phase_counts.c_str(), shard.empty() ? "" : (" in shard " + shard).c_str(), db.c_str());
  size_t w = 5;
  for (size_t i : selected) w = std::max(w, plan.runs[i].stage.size());
  for (size_t i : selected) {
    const auto& r = plan.runs[i];
    std::string after;
    for (size_t d : r.deps) after += fmt::format("{}#{}", after.empty() ? "after " : ", ", d);
    std::printf("  #%-4zu %-*s %s  %-40s %s\n", i, static_cast<int>(w), r.stage.c_str(), r.hash.substr(0, 12).c_str(),
                r.label.c_str(), after.c_str());
  }
}

// The shard's runs (all, or those of one phase).
std::vector<size_t> select_runs(const Plan& plan, int shard_i, int shard_n, int phase) {
  auto selected = shard_runs(plan, shard_i, shard_n);
  if (phase < 0) return selected;
  const auto ph = phases(plan);
  std::vector<size_t> out;
  for (size_t i : selected)
    if (ph[i] == phase) out.push_back(i);
  return out;
}

// Every upstream run of the selected runs that this invocation does not execute must be finished
// in the database it starts from (`source`: the database itself, or the --base it is copied
// from); refused before anything is written, naming the first and counting the rest.
void check_upstream(const Plan& plan, const std::vector<size_t>& selected, const std::string& source,
                    const std::string& shard) {
  std::set<size_t> chosen(selected.begin(), selected.end()), missing;
  std::optional<Store> store;
  if (!source.empty() && fs::exists(source)) store.emplace(source, Store::Open::read_only);
  for (size_t i : selected)
    for (size_t d : plan.runs[i].deps) {
      if (chosen.count(d) || missing.count(d)) continue;
      auto st = store ? store->find_run(plan.runs[d].hash) : std::nullopt;
      if (!st || st->status != "finished") missing.insert(d);
    }
  if (missing.empty()) return;
  const auto& first = plan.runs[*missing.begin()];
  throw UserError(fmt::format(
      "{}: {} upstream run{} not finished in {} (first: #{} {} {}, phase {}); a shard executes only its own runs: "
      "run the earlier phases first and start from their merged database with --base (tools/slurm/submit.sh does)",
      shard.empty() ? "run" : "shard " + shard, missing.size(), missing.size() == 1 ? " is" : "s are",
      source.empty() ? "a new database" : source, *missing.begin(), first.stage, first.label,
      phases(plan)[*missing.begin()]));
}

// What the invocation records about itself: the command, the spec (after --set), the engine and
// LibTorch, and every plugin file used with its hash (their paths also go to the workers).
Provenance provenance(const std::vector<std::string>& args, const std::string& spec_path, const Spec& spec,
                      const Plan& plan, const PluginRegistry& reg, const std::string& shard,
                      std::vector<std::string>& plugin_files) {
  Provenance prov;
  prov.engine_version = FEATJND_ENGINE_VERSION;
  prov.git_commit = kGitCommit;
  prov.git_dirty = kGitDirty;
  prov.torch_version = TORCH_VERSION;
  prov.host = host_name();
  prov.pid = getpid();
  prov.command = "featjnd-engine run";
  for (auto& a : args) prov.command += " " + a;
  prov.spec_file = fs::absolute(spec_path).string();
  prov.spec_hash = spec.hash;
  prov.spec_json = spec.raw;
  for (auto& o : spec.overrides) prov.overrides.push_back({{"path", o.path}, {"pointer", o.pointer}, {"value", o.value}});
  prov.shard = shard;
  std::set<std::pair<std::string, std::string>> used;
  for (auto& r : plan.runs)
    for (auto& [k, c] : r.config.at("components").items()) used.insert({c.at("kind").get<std::string>(), c.at("plugin").get<std::string>()});
  for (auto& [kind, name] : used) {
    const auto* rec = reg.find(kind, name);
    prov.plugins.push_back({kind, name, rec->version, rec->file, sha256_file(rec->file)});
    plugin_files.push_back(rec->file);
  }
  return prov;
}

void print_summary(const std::string& name, const std::string& db, const SchedulerResult& res) {
  std::fprintf(stderr, "%s: %lld runs: %lld finished now, %lld already finished, %lld failed%s -> %s\n", name.c_str(),
               (long long)res.total, (long long)res.finished, (long long)res.skipped, (long long)res.failed,
               res.interrupted ? fmt::format(", {} killed (interrupted; run the same command again to resume)",
                                             res.killed).c_str()
                               : "",
               db.c_str());
  if (res.failed > 0 && !res.interrupted)
    std::fprintf(stderr, "featjnd-engine: error: %lld runs failed; `featjnd-engine status %s` lists them\n",
                 (long long)res.failed, db.c_str());
}

}  // namespace

int cmd_plugins(const std::vector<std::string>& args) {
  po::options_description opts("plugins options");
  std::vector<std::string> dirs;
  opts.add_options()("plugin-dir", po::value(&dirs)->composing(), "also search this folder (repeatable)")(
      "json", po::bool_switch(), "print JSON");
  po::variables_map vm;
  if (!parse("plugins", "[--plugin-dir DIR]... [--json]", args, opts, {}, vm)) return 0;
  auto reg = load_plugins(dirs);
  if (vm["json"].as<bool>()) {
    nlohmann::json out = nlohmann::json::array();
    for (auto& p : reg.plugins()) {
      nlohmann::json params = nlohmann::json::array();
      for (auto& ps : p.params)
        params.push_back({{"name", ps.name}, {"type", ps.type}, {"expected", ps.describe_type()},
                          {"default", ps.default_value ? *ps.default_value : nlohmann::json()}, {"doc", ps.doc}});
      out.push_back({{"kind", p.kind}, {"name", p.name}, {"version", p.version}, {"file", p.file},
                     {"description", p.description}, {"params", params}});
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  if (reg.plugins().empty()) std::puts("no plugins found (plugin path: build plugins/, FEATJND_PLUGIN_PATH, --plugin-dir)");
  auto sorted = reg.plugins();
  std::sort(sorted.begin(), sorted.end(),
            [](auto& a, auto& b) { return std::tie(a.kind, a.name) < std::tie(b.kind, b.name); });
  for (auto& p : sorted) {
    std::printf("%-10s %-16s %-8s %s\n", p.kind.c_str(), p.name.c_str(), p.version.c_str(), p.file.c_str());
    std::printf("           %s\n", p.description.c_str());
    for (auto& ps : p.params)
      std::printf("           - %-14s %-6s default %-10s %s (%s)\n", ps.name.c_str(), ps.type.c_str(),
                  ps.default_value ? ps.default_value->dump().c_str() : "(required)", ps.doc.c_str(),
                  ps.describe_type().c_str());
  }
  return 0;
}

struct RunArgs {
  std::string spec_path, db, devices, shard, base;
  int phase = -1;
  bool dry_run = false, has_devices = false;
  uint64_t max_runs = kDefaultMaxRuns;
  std::vector<std::string> plugin_dirs, sets;
};

// nullopt: --help was printed.
std::optional<RunArgs> parse_run_args(const std::vector<std::string>& args) {
  RunArgs a;
  po::options_description opts("run options");
  opts.add_options()("spec", po::value(&a.spec_path)->required(), "experiment spec (JSON)")(
      "devices", po::value(&a.devices), "comma-separated devices, e.g. cpu,cuda:0 (overrides the spec)")(
      "dry-run", po::bool_switch(&a.dry_run), "print the expanded runs and their dependencies; write nothing")(
      "db", po::value(&a.db), "results database (default: the spec's, or results/<name>.db)")(
      "shard", po::value(&a.shard),
      "run shard i of N (0 <= i < N): a partition of the runs, by phase and stage type; a shard executes only its own "
      "runs")(
      "phase", po::value(&a.phase), "run only the runs of this phase (0: no upstream runs; p: one after the deepest "
      "upstream run's)")(
      "base", po::value(&a.base), "start a new --db as a copy of this database (in the same folder): the merged "
      "result of the earlier phases")(
      "max-runs", po::value(&a.max_runs)->default_value(kDefaultMaxRuns),
      "refuse a grid of more runs than this (counted before it is expanded)")(
      "plugin-dir", po::value(&a.plugin_dirs)->composing(), "also search this folder for plugins (repeatable)")(
      "set", po::value(&a.sets)->composing(),
      "override a spec field: PATH=VALUE, PATH dotted (components.task.params.root) or a JSON pointer; VALUE JSON "
      "or a string (repeatable; recorded in the invocation)");
  po::positional_options_description pos;
  pos.add("spec", 1);
  po::variables_map vm;
  if (!parse("run", "SPEC [--devices LIST] [--dry-run] [--db PATH] [--shard i/N] [--phase P] [--base DB] "
             "[--set PATH=VALUE]...", args, opts, pos, vm))
    return std::nullopt;
  a.has_devices = vm.count("devices") != 0;
  if (vm.count("phase") && a.phase < 0) throw UserError(fmt::format("--phase {}: expected 0 or more", a.phase));
  if (!a.base.empty() && !fs::exists(a.base)) throw UserError(fmt::format("--base {}: no such database", a.base));
  return a;
}

int cmd_run(const std::vector<std::string>& args) {
  const auto parsed = parse_run_args(args);
  if (!parsed) return 0;
  const RunArgs& a = *parsed;
  auto reg = load_plugins(a.plugin_dirs);
  Spec spec = load_spec(a.spec_path, reg, a.sets);
  std::vector<std::string> devs = a.has_devices ? split_devices(a.devices) : spec.devices;
  if (auto e = check_devices(devs); !e.empty()) throw UserError("--devices: " + e);
  const std::string db = a.db.empty() ? spec.database : a.db;
  int shard_i = 0, shard_n = 1;
  if (!a.shard.empty()) std::tie(shard_i, shard_n) = parse_shard(a.shard);

  FileHasher hasher;
  Plan plan = expand(spec, reg, hasher, a.max_runs);
  auto selected = select_runs(plan, shard_i, shard_n, a.phase);
  if (a.dry_run) {
    print_plan(spec, plan, selected, db, a.shard);
    return 0;
  }
  preflight(spec, plan, selected, reg, devs);
  check_upstream(plan, selected, fs::exists(db) || a.base.empty() ? db : a.base, a.shard);
  if (!a.base.empty()) Store::start_from(a.base, db);

  Store store(db, Store::Open::create);
  store.check_integrity();
  std::vector<std::string> plugin_files;
  const Provenance prov = provenance(args, a.spec_path, spec, plan, reg, a.shard, plugin_files);
  int64_t exp = store.ensure_experiment(spec.name, spec.description);
  int64_t inv = store.begin_invocation(exp, prov);
  store.take_lease(inv);

  SchedulerOptions so;
  so.devices = devs;
  so.plugin_files = plugin_files;
  so.database = fs::absolute(db).string();
  so.interactive = isatty(2) && std::getenv("TERM") && std::string(std::getenv("TERM")) != "dumb";
  SchedulerResult res;
  try {
    res = run_plan(plan, selected, store, exp, inv, so);
  } catch (...) {
    store.end_invocation(inv, 1);
    throw;
  }
  const int code = res.interrupted ? 130 : (res.failed > 0 ? 1 : 0);
  store.end_invocation(inv, code);
  print_summary(spec.name, db, res);
  return code;
}

int cmd_worker(const std::vector<std::string>& args) {
  po::options_description opts("worker options (internal)");
  WorkerOptions w;
  opts.add_options()("device", po::value(&w.device)->required(), "")("db", po::value(&w.database)->required(), "")(
      "plugin-file", po::value(&w.plugin_files)->composing(), "")("threads", po::value(&w.threads)->default_value(0), "")("message-fd", po::value(&w.message_fd)->default_value(3), "");
  po::variables_map vm;
  if (!parse("worker", "(internal: started by run)", args, opts, {}, vm)) return 0;
  return worker_main(w);
}

}  // namespace featjnd::cli
