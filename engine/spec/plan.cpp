#include "spec/plan.h"

#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "core/sha256.h"
#include "plugin_host/plugin_registry.h"
#include "spec/spec.h"

namespace featjnd {
namespace {

uint32_t stage_bit(const std::string& type) {
  if (type == "prepare") return FEATJND_STAGE_PREPARE;
  if (type == "fit") return FEATJND_STAGE_FIT;
  return FEATJND_STAGE_EVALUATE;
}

std::string short_value(const nlohmann::json& v) {
  if (v.is_object() && v.contains("plugin")) return v["plugin"].get<std::string>();
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

}  // namespace

std::string FileHasher::identity(const std::string& path) {
  auto it = cache_.find(path);
  if (it != cache_.end()) return it->second;
  std::error_code ec;
  std::string id = path;
  if (!path.empty() && std::filesystem::is_regular_file(path, ec)) id = "sha256:" + sha256_file(path);
  cache_[path] = id;
  return id;
}

Plan expand(const Spec& spec, const PluginRegistry& plugins, FileHasher& hasher) {
  Plan plan;
  struct StageInfo {
    std::vector<std::string> components;  // used by the stage, own and inherited
    std::vector<size_t> axes;             // relevant axes (indices into spec.axes)
    std::map<std::string, size_t> by_key;  // assignment key -> run index
    std::map<std::string, size_t> by_hash;
  };
  std::map<std::string, StageInfo> info;

  for (const auto& st : spec.stages) {
    StageInfo si;
    const StageInfo* up = st.after.empty() ? nullptr : &info.at(st.after);
    // Backbone and task come down the chain; an upstream distortion does not: an evaluation
    // of another distortion after a fit reads the fitted state through its input hash only.
    if (up)
      for (auto& c : up->components)
        if (spec.components.at(c).kind != "distortion") si.components.push_back(c);
    for (auto* c : {&st.backbone, &st.task, &st.distortion})
      if (!c->empty() && std::find(si.components.begin(), si.components.end(), *c) == si.components.end())
        si.components.push_back(*c);
    const uint32_t bit = stage_bit(st.type);
    std::set<size_t> rel;
    if (up) rel.insert(up->axes.begin(), up->axes.end());
    for (size_t a = 0; a < spec.axes.size(); ++a) {
      const auto& ax = spec.axes[a];
      if (ax.component.empty()) { rel.insert(a); continue; }
      if (std::find(si.components.begin(), si.components.end(), ax.component) == si.components.end())
        continue;
      if (ax.param.empty()) { rel.insert(a); continue; }
      const auto& comp = spec.components.at(ax.component);
      const auto* rec = plugins.find(comp.kind, comp.plugin);
      const auto* ps = rec ? rec->param(ax.param) : nullptr;
      if (ps && (ps->stages & bit)) rel.insert(a);
    }
    si.axes.assign(rel.begin(), rel.end());

    // Odometer over the relevant axes.
    std::vector<size_t> pos(si.axes.size(), 0);
    while (true) {
      std::map<size_t, const nlohmann::json*> assign;
      for (size_t k = 0; k < si.axes.size(); ++k) assign[si.axes[k]] = &spec.axes[si.axes[k]].values[pos[k]];

      int64_t seed = spec.seed;
      nlohmann::json components = nlohmann::json::object();
      nlohmann::json hashed = nlohmann::json::object();
      std::map<std::string, nlohmann::json> flat;
      for (auto& cname : si.components) {
        const auto& cs = spec.components.at(cname);
        std::string plugin_name = cs.plugin;
        nlohmann::json params = cs.params;
        for (auto& [a, v] : assign) {
          const auto& ax = spec.axes[a];
          if (ax.component != cname) continue;
          if (ax.param.empty()) {
            plugin_name = (*v)["plugin"].get<std::string>();
            params = v->value("params", nlohmann::json::object());
          }
        }
        for (auto& [a, v] : assign) {
          const auto& ax = spec.axes[a];
          if (ax.component == cname && !ax.param.empty()) params[ax.param] = *v;
        }
        const auto* rec = plugins.find(cs.kind, plugin_name);
        auto resolved = PluginRegistry::resolve_params(*rec, params);
        nlohmann::json hp = nlohmann::json::object();
        for (auto& p : rec->params) {
          if (!(p.stages & bit)) continue;
          const auto& v = resolved[p.name];
          hp[p.name] = (p.type == "path" && v.is_string()) ? nlohmann::json(hasher.identity(v.get<std::string>())) : v;
        }
        components[cname] = {{"kind", cs.kind}, {"plugin", plugin_name}, {"version", rec->version},
                             {"params", resolved}};
        hashed[cname] = {{"plugin", plugin_name}, {"version", rec->version}, {"params", hp}};
        for (auto it = resolved.begin(); it != resolved.end(); ++it) flat[cname + "." + it.key()] = it.value();
      }
      for (auto& [a, v] : assign)
        if (spec.axes[a].component.empty()) seed = v->get<int64_t>();
      flat["seed"] = seed;

      std::vector<size_t> deps;
      std::vector<std::string> input_hashes;
      if (up) {
        nlohmann::json upkey = nlohmann::json::array();
        for (size_t a : up->axes) upkey.push_back({a, *assign.at(a)});
        size_t dep = up->by_key.at(upkey.dump());
        deps.push_back(dep);
        input_hashes.push_back(plan.runs[dep].hash);
      }
      nlohmann::json roles = nlohmann::json::object();
      if (up) roles = plan.runs[deps[0]].config["roles"];
      if (!st.backbone.empty()) roles["backbone"] = st.backbone;
      if (!st.task.empty()) roles["task"] = st.task;
      if (!st.distortion.empty()) roles["distortion"] = st.distortion;
      else roles.erase("distortion");

      nlohmann::json identity = {{"stage", st.name}, {"type", st.type}, {"seed", seed},
                                 {"components", hashed}, {"inputs", input_hashes}};
      std::string hash = sha256_hex(identity.dump());

      nlohmann::json key = nlohmann::json::array();
      for (size_t a : si.axes) key.push_back({a, *assign.at(a)});

      if (auto same = si.by_hash.find(hash); same != si.by_hash.end()) {
        si.by_key[key.dump()] = same->second;  // equal values swept twice
      } else {
        PlannedRun r;
        r.index = plan.runs.size();
        r.stage = st.name;
        r.type = st.type;
        r.hash = hash;
        r.params = flat;
        r.deps = deps;
        r.root = up ? plan.runs[deps[0]].root : r.index;
        const std::string root_hash = up ? plan.runs[r.root].hash : hash;
        r.network_key = sha256_hex(root_hash + components[roles["backbone"].get<std::string>()].dump() +
                                   components[roles["task"].get<std::string>()].dump());
        // Every swept value the run depends on, upstream ones included: a label alone says which run.
        std::string label;
        for (auto& [a, v] : assign) label += (label.empty() ? "" : " ") + spec.axes[a].key() + "=" + short_value(*v);
        r.label = label;
        r.config = {{"stage", st.name}, {"type", st.type}, {"seed", seed}, {"roles", roles},
                    {"components", components}, {"inputs", input_hashes}};
        si.by_key[key.dump()] = r.index;
        si.by_hash[hash] = r.index;
        plan.runs.push_back(std::move(r));
      }

      // advance
      size_t k = 0;
      for (; k < pos.size(); ++k) {
        if (++pos[k] < spec.axes[si.axes[k]].values.size()) break;
        pos[k] = 0;
      }
      if (k == pos.size()) break;
    }
    info[st.name] = std::move(si);
  }
  return plan;
}

std::vector<size_t> shard_runs(const Plan& plan, int shard_index, int shard_count) {
  std::vector<bool> keep(plan.runs.size(), false);
  for (const auto& r : plan.runs) {
    uint32_t h = static_cast<uint32_t>(std::stoul(r.hash.substr(0, 8), nullptr, 16));
    if (static_cast<int>(h % static_cast<uint32_t>(shard_count)) != shard_index) continue;
    std::vector<size_t> stack{r.index};
    while (!stack.empty()) {
      size_t i = stack.back();
      stack.pop_back();
      if (keep[i]) continue;
      keep[i] = true;
      for (size_t d : plan.runs[i].deps) stack.push_back(d);
    }
  }
  std::vector<size_t> out;
  for (size_t i = 0; i < keep.size(); ++i)
    if (keep[i]) out.push_back(i);
  return out;
}

}  // namespace featjnd
