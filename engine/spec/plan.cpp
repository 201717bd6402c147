#include "spec/plan.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "core/sha256.h"
#include "plugin_host/plugin_registry.h"
#include "spec/spec.h"

namespace featjnd {
namespace {

// An inspection depends on what an evaluation depends on.
uint32_t stage_bit(const std::string& type) {
  if (type == "prepare") return FEATJND_STAGE_PREPARE;
  if (type == "fit") return FEATJND_STAGE_FIT;
  return FEATJND_STAGE_EVALUATE;
}

// Whether a stage using `components` depends on what the target sets.
bool target_matters(const Spec& spec, const PluginRegistry& plugins, const std::vector<std::string>& components,
                    const SweepTarget& t, uint32_t bit) {
  if (t.component.empty()) return true;  // the seed
  if (std::find(components.begin(), components.end(), t.component) == components.end()) return false;
  if (t.param.empty()) return true;
  const auto& comp = spec.components.at(t.component);
  const auto* rec = plugins.find(comp.kind, comp.plugin);
  const auto* ps = rec ? rec->param(t.param) : nullptr;
  return ps && (ps->stages & bit);
}

}  // namespace

std::string FileHasher::identity(const std::string& path) {
  auto it = cache_.find(path);
  if (it != cache_.end()) return it->second;
  std::error_code ec;
  std::string id = path;
  if (!path.empty() && std::filesystem::is_regular_file(path, ec)) id = "sha256:" + sha256_file(path);
  // A model package (tools/export_model.py) is a folder whose package.json holds every file's
  // SHA-256: its hash identifies the package. Other folders (a dataset's root) go by their path.
  else if (const auto manifest = std::filesystem::path(path) / "package.json";
           !path.empty() && std::filesystem::is_regular_file(manifest, ec))
    id = "sha256:" + sha256_file(manifest.string());
  cache_[path] = id;
  return id;
}

namespace {

struct StageInfo {
  std::vector<std::string> components;   // used by the stage, own and inherited
  std::vector<size_t> axes;              // relevant axes (indices into spec.axes)
  std::map<std::string, size_t> by_key;  // assignment key -> run index
  std::map<std::string, size_t> by_hash;
};

// What one point of the grid sets: whole components, parameters ("component.param"), the seed.
struct Assignment {
  std::map<size_t, size_t> points;  // axis -> point
  std::map<std::string, const nlohmann::json*> whole, param_values;
  const nlohmann::json* seed = nullptr;
};

Assignment assignment_of(const Spec& spec, const std::vector<size_t>& axes, const std::vector<size_t>& pos) {
  Assignment a;
  for (size_t k = 0; k < axes.size(); ++k) a.points[axes[k]] = pos[k];
  for (auto& [axis, p] : a.points)
    for (size_t t = 0; t < spec.axes[axis].targets.size(); ++t) {
      const auto& target = spec.axes[axis].targets[t];
      const auto* v = &spec.axes[axis].points[p][t];
      if (target.component.empty()) a.seed = v;
      else if (target.param.empty()) a.whole[target.component] = v;
      else a.param_values[target.key()] = v;
    }
  return a;
}

// A component at one point: its plugin, every parameter resolved, and those a stage depends on.
struct Resolved {
  const PluginRecord* rec = nullptr;
  std::string plugin;
  nlohmann::json params;
  nlohmann::json relevant(uint32_t bit, FileHasher& hasher) const {
    nlohmann::json hp = nlohmann::json::object();
    for (auto& p : rec->params) {
      if (!(p.stages & bit)) continue;
      const auto& v = params[p.name];
      hp[p.name] = (p.type == "path" && v.is_string()) ? nlohmann::json(hasher.identity(v.get<std::string>())) : v;
    }
    return {{"plugin", plugin}, {"version", rec->version}, {"params", hp}};
  }
};

Resolved resolve(const Spec& spec, const PluginRegistry& plugins, const std::string& cname, const Assignment& a) {
  const auto& cs = spec.components.at(cname);
  Resolved r{nullptr, cs.plugin, cs.params};
  if (auto w = a.whole.find(cname); w != a.whole.end()) {
    r.plugin = (*w->second)["plugin"].get<std::string>();
    r.params = w->second->value("params", nlohmann::json::object());
  }
  for (auto& [key, v] : a.param_values)
    if (key.rfind(cname + ".", 0) == 0 && key.find('.', cname.size() + 1) == std::string::npos)
      r.params[key.substr(cname.size() + 1)] = *v;
  r.rec = plugins.find(cs.kind, r.plugin);
  r.params = PluginRegistry::resolve_params(*r.rec, r.params);
  return r;
}

// The components a stage uses and the axes it expands over.
StageInfo stage_info(const Spec& spec, const PluginRegistry& plugins, const StageSpec& st, const StageInfo* up) {
  StageInfo si;
  // Backbone and task come down the chain; an upstream distortion does not: an evaluation
  // of another distortion after a fit reads the fitted state through its input hash only.
  if (up)
    for (auto& c : up->components)
      if (spec.components.at(c).kind != "distortion") si.components.push_back(c);
  for (auto* c : {&st.backbone, &st.task, &st.distortion})
    if (!c->empty() && std::find(si.components.begin(), si.components.end(), *c) == si.components.end())
      si.components.push_back(*c);
  std::set<size_t> rel;
  if (up) rel.insert(up->axes.begin(), up->axes.end());
  for (size_t a = 0; a < spec.axes.size(); ++a)
    for (const auto& t : spec.axes[a].targets)
      if (target_matters(spec, plugins, si.components, t, stage_bit(st.type))) rel.insert(a);
  si.axes.assign(rel.begin(), rel.end());
  return si;
}

std::string key_of(const std::vector<size_t>& axes, const std::map<size_t, size_t>& points) {
  nlohmann::json key = nlohmann::json::array();
  for (size_t a : axes) key.push_back({a, points.at(a)});
  return key.dump();
}

// The run of stage `st` at one point of the grid (not yet deduplicated).
PlannedRun plan_run(const Spec& spec, const PluginRegistry& plugins, FileHasher& hasher, const StageSpec& st,
                    const StageInfo& si, const StageInfo* up, const Assignment& a, const Plan& plan) {
  const uint32_t bit = stage_bit(st.type);
  // What a run takes from the worker's network: an evaluation (or prepare) does not see a
  // fit-only parameter such as the task's discrepancy, so evaluations after fits on D_det and
  // on D_seg share one loaded network and its clean features.
  const uint32_t network_bit = st.type == "fit" ? FEATJND_STAGE_FIT : FEATJND_STAGE_EVALUATE;
  PlannedRun r;
  r.index = plan.runs.size();
  r.stage = st.name;
  r.type = st.type;
  nlohmann::json components = nlohmann::json::object(), hashed = nlohmann::json::object(),
                 network = nlohmann::json::object();
  for (auto& cname : si.components) {
    auto c = resolve(spec, plugins, cname, a);
    components[cname] = {{"kind", spec.components.at(cname).kind}, {"plugin", c.plugin}, {"version", c.rec->version},
                         {"params", c.params}};
    hashed[cname] = c.relevant(bit, hasher);
    network[cname] = c.relevant(network_bit, hasher);
    for (auto it = c.params.begin(); it != c.params.end(); ++it) r.params[cname + "." + it.key()] = it.value();
  }
  const int64_t seed = a.seed ? a.seed->get<int64_t>() : spec.seed;
  r.params["seed"] = seed;
  std::vector<std::string> input_hashes;
  nlohmann::json roles = nlohmann::json::object();
  if (up) {
    const size_t dep = up->by_key.at(key_of(up->axes, a.points));
    r.deps.push_back(dep);
    input_hashes.push_back(plan.runs[dep].hash);
    roles = plan.runs[dep].config["roles"];
  }
  if (!st.backbone.empty()) roles["backbone"] = st.backbone;
  if (!st.task.empty()) roles["task"] = st.task;
  if (!st.distortion.empty()) roles["distortion"] = st.distortion;
  else roles.erase("distortion");
  nlohmann::json identity = {{"stage", st.name}, {"type", st.type}, {"seed", seed},
                             {"components", hashed}, {"inputs", input_hashes}};
  if (!st.params.empty()) identity["stage_params"] = st.params;
  if (!spec.execution.empty()) identity["execution"] = spec.execution;
  r.hash = sha256_hex(identity.dump());
  r.root = up ? plan.runs[r.deps[0]].root : r.index;
  r.network_key = sha256_hex((up ? plan.runs[r.root].hash : r.hash) + network[roles["backbone"].get<std::string>()].dump() +
                             network[roles["task"].get<std::string>()].dump());
  // Every swept value the run depends on, upstream ones included: a label alone says which run.
  for (auto& [axis, p] : a.points)
    r.label += (r.label.empty() ? "" : " ") + spec.axes[axis].name + "=" + spec.axes[axis].point_labels[p];
  // "hashed": per component, the parameters this stage's result depends on (what the analysis
  // groups by; a parameter of another stage does not set this run apart).
  r.config = {{"stage", st.name}, {"type", st.type}, {"seed", seed}, {"roles", roles},
              {"components", components}, {"hashed", hashed}, {"inputs", input_hashes}};
  if (!st.params.empty()) r.config["stage_params"] = st.params;
  if (!spec.execution.empty()) r.config["execution"] = spec.execution;
  return r;
}

}  // namespace

GridSize grid_size(const Spec& spec, const PluginRegistry& plugins) {
  GridSize g;
  std::map<std::string, StageInfo> info;
  for (const auto& st : spec.stages) {
    const StageInfo* up = st.after.empty() ? nullptr : &info.at(st.after);
    StageInfo si = stage_info(spec, plugins, st, up);
    uint64_t n = 1;
    std::string factors;
    for (size_t a : si.axes) {
      const uint64_t k = spec.axes[a].size();
      n = (k != 0 && n > UINT64_MAX / k) ? UINT64_MAX : n * k;  // saturates: only "too many" matters
      factors += fmt::format("{}{} {}", factors.empty() ? "" : " × ", k, spec.axes[a].name);
    }
    g.runs = g.runs > UINT64_MAX - n ? UINT64_MAX : g.runs + n;
    if (n > g.largest_stage_runs) {
      g.largest_stage_runs = n;
      g.largest_stage = st.name;
      g.largest_factors = factors;
    }
    info[st.name] = std::move(si);
  }
  return g;
}

Plan expand(const Spec& spec, const PluginRegistry& plugins, FileHasher& hasher, uint64_t max_runs) {
  // Counted before anything is built: a grid of 10^9 points would otherwise be expanded in
  // memory until the process dies, --dry-run included.
  if (const auto g = grid_size(spec, plugins); g.runs > max_runs)
    throw UserError(fmt::format("{}: the grid has {} runs, more than the limit of {} (the largest stage, '{}', has "
                                "{}: {}); check the sweep, or raise the limit with --max-runs",
                                spec.file, g.runs == UINT64_MAX ? std::string("over 1.8e19") : std::to_string(g.runs),
                                max_runs, g.largest_stage, g.largest_stage_runs, g.largest_factors));
  Plan plan;
  std::map<std::string, StageInfo> info;
  for (const auto& st : spec.stages) {
    const StageInfo* up = st.after.empty() ? nullptr : &info.at(st.after);
    StageInfo si = stage_info(spec, plugins, st, up);
    // Odometer over the relevant axes.
    std::vector<size_t> pos(si.axes.size(), 0);
    while (true) {
      const auto a = assignment_of(spec, si.axes, pos);
      PlannedRun r = plan_run(spec, plugins, hasher, st, si, up, a, plan);
      const auto key = key_of(si.axes, a.points);
      if (auto same = si.by_hash.find(r.hash); same != si.by_hash.end()) {
        si.by_key[key] = same->second;  // equal values swept twice
      } else {
        si.by_key[key] = r.index;
        si.by_hash[r.hash] = r.index;
        plan.runs.push_back(std::move(r));
      }
      size_t k = 0;
      for (; k < pos.size(); ++k) {
        if (++pos[k] < spec.axes[si.axes[k]].size()) break;
        pos[k] = 0;
      }
      if (k == pos.size()) break;
    }
    info[st.name] = std::move(si);
  }
  return plan;
}

std::vector<int> phases(const Plan& plan) {
  std::vector<int> phase(plan.runs.size(), 0);
  for (const auto& r : plan.runs)  // dependencies come first
    for (size_t d : r.deps) phase[r.index] = std::max(phase[r.index], phase[d] + 1);
  return phase;
}

std::vector<size_t> shard_runs(const Plan& plan, int shard_index, int shard_count) {
  const auto phase = phases(plan);
  std::map<std::pair<int, std::string>, std::vector<size_t>> groups;  // (phase, type) -> runs
  for (const auto& r : plan.runs) groups[{phase[r.index], r.type}].push_back(r.index);
  std::vector<size_t> out;
  for (auto& [key, runs] : groups) {
    std::sort(runs.begin(), runs.end(), [&](size_t a, size_t b) {
      const auto &x = plan.runs[a], &y = plan.runs[b];
      return std::tie(x.root, x.network_key, x.hash) < std::tie(y.root, y.network_key, y.hash);
    });
    // Chunk i holds runs [floor(i·n/N), floor((i+1)·n/N)).
    const size_t n = runs.size(), N = static_cast<size_t>(shard_count), i = static_cast<size_t>(shard_index);
    for (size_t k = i * n / N; k < (i + 1) * n / N; ++k) out.push_back(runs[k]);
  }
  std::sort(out.begin(), out.end());  // dependency order, as the plan
  return out;
}

}  // namespace featjnd
