#include "analysis/evaluations.h"
#include "analysis/format.h"

#include <functional>

#include "store/sqlite.h"

namespace featjnd::analysis {
namespace {

struct RunRow {
  std::string type, label;
  nlohmann::json config;
  std::vector<int64_t> deps;
};

std::map<int64_t, RunRow> load_runs(sql::Database& db) {
  std::map<int64_t, RunRow> runs;
  auto st = db.prepare("SELECT id, stage_type, label, config_json FROM runs");
  while (st.step()) runs[st.integer(0)] = {st.text(1), st.text(2), nlohmann::json::parse(st.text(3)), {}};
  auto d = db.prepare("SELECT run_id, dep_run_id FROM run_deps");
  while (d.step())
    if (auto it = runs.find(d.integer(0)); it != runs.end()) it->second.deps.push_back(d.integer(1));
  return runs;
}

// "component.param" -> value for what this run's stage depends on (its "hashed" parameters, or
// every parameter in databases older than that record), with "component" -> plugin name.
void add_relevant(const RunRow& r, std::map<std::string, nlohmann::json>& out) {
  const auto& comps = r.config.at("components");
  const bool known = r.config.contains("hashed");
  for (auto c = comps.begin(); c != comps.end(); ++c) {
    const auto& params = c.value().at("params");
    out[c.key()] = c.value().at("plugin");
    if (!known) {
      for (auto p = params.begin(); p != params.end(); ++p) out[c.key() + "." + p.key()] = p.value();
      continue;
    }
    const auto& h = r.config.at("hashed");
    if (!h.contains(c.key())) continue;
    for (auto p = h.at(c.key()).at("params").begin(); p != h.at(c.key()).at("params").end(); ++p)
      out[c.key() + "." + p.key()] = params.value(p.key(), p.value());
  }
}

// The run and its upstream runs, depth first; `fitted` is set when one of them is a fit.
void add_lineage(int64_t id, const std::map<int64_t, RunRow>& runs, std::map<std::string, nlohmann::json>& out,
                 bool& fitted) {
  auto it = runs.find(id);
  if (it == runs.end()) return;
  fitted = fitted || it->second.type == "fit";
  for (int64_t d : it->second.deps) add_lineage(d, runs, out, fitted);
  add_relevant(it->second, out);  // the run's own values last: they win
}

std::string strength_key_of(const std::string& plugin, const std::map<std::string, nlohmann::json>& own) {
  if (plugin == "gaussian") return "sigma";
  if (plugin == "featjnd") return "alpha";
  if (plugin == "quant-minmax") return "bits";
  if (plugin.rfind("quant-", 0) == 0) return "sigma_q";
  for (const char* k : {"sigma_q", "sigma", "alpha"})
    if (own.count(k)) return k;
  for (auto& [k, v] : own)
    if (v.is_number() && k != "seed") return k;
  return {};
}


// Splits an evaluation's parameters into method, strength, replicate and setting.
Evaluation classify(int64_t id, const RunRow& r, const std::map<int64_t, RunRow>& runs) {
  Evaluation e;
  e.id = id;
  e.label = r.label;
  std::map<std::string, nlohmann::json> all;
  for (int64_t d : r.deps) add_lineage(d, runs, all, e.fitted);
  add_relevant(r, all);
  e.seed = r.config.at("seed").get<int64_t>();
  e.replicate = "seed=" + std::to_string(e.seed);
  const auto& roles = r.config.at("roles");
  e.backbone = roles.at("backbone").get<std::string>();
  e.network = network_of(r.config.at("components").at(e.backbone));
  std::string dist = roles.contains("distortion") ? roles.at("distortion").get<std::string>() : "";
  e.method = "clean";
  if (!dist.empty()) {
    const auto plugin = r.config.at("components").at(dist).at("plugin").get<std::string>();
    std::map<std::string, nlohmann::json> own;  // this stage's own distortion parameters
    const auto& h = r.config.value("hashed", nlohmann::json::object());
    const auto& src = h.contains(dist) ? h.at(dist).at("params") : r.config.at("components").at(dist).at("params");
    for (auto p = src.begin(); p != src.end(); ++p) {
      own[p.key()] = r.config.at("components").at(dist).at("params").value(p.key(), p.value());
      all.erase(dist + "." + p.key());
    }
    all.erase(dist);
    e.method = plugin;
    if (plugin == "featjnd" && own.count("mode") && own.at("mode") != "adaptive") e.method += "-" + text_of(own.at("mode"));
    own.erase("mode");
    e.strength_key = strength_key_of(plugin, own);
    if (!e.strength_key.empty() && own.count(e.strength_key) && own.at(e.strength_key).is_number()) {
      e.strength = own.at(e.strength_key).get<double>();
      own.erase(e.strength_key);
    }
    for (const char* k : {"seed", "control_seed"})
      if (own.count(k)) {
        e.replicate += " " + dist + "." + k + "=" + text_of(own.at(k));
        own.erase(k);
      }
    e.method_params = own;
  }
  e.setting = all;
  return e;
}

}  // namespace

// The backbone in a few words: its architecture (or plugin, for a custom one), split and neck.
std::string network_of(const nlohmann::json& backbone) {
  const auto plugin = backbone.at("plugin").get<std::string>();
  const auto& p = backbone.at("params");
  const auto arch = p.contains("arch") ? text_of(p.at("arch")) : "custom";
  std::string out = arch == "custom" ? plugin : arch;
  // With a neck, the split is the neck's output; the backbone's own split does not apply.
  if (p.contains("neck") && p.at("neck") != "none") out += " neck=" + text_of(p.at("neck"));
  else if (p.contains("split")) out += " split=" + text_of(p.at("split"));
  return out;
}

std::vector<Evaluation> load_evaluations(sql::Database& db) {
  auto runs = load_runs(db);
  std::vector<Evaluation> out;
  std::map<int64_t, size_t> index;
  for (auto& [id, r] : runs) {
    if (r.type != "evaluate") continue;
    index[id] = out.size();
    out.push_back(classify(id, r, runs));
  }
  auto fin = db.prepare("SELECT id FROM runs WHERE stage_type='evaluate' AND status='finished'");
  std::set<int64_t> finished;
  while (fin.step()) finished.insert(fin.integer(0));
  auto m = db.prepare("SELECT m.run_id, m.key, m.value FROM metrics m JOIN runs r ON r.id = m.run_id "
                      "WHERE r.stage_type='evaluate' AND r.status='finished' AND m.step = 0");
  while (m.step())
    if (auto it = index.find(m.integer(0)); it != index.end()) out[it->second].metrics[m.text(1)] = m.real(2);
  std::vector<Evaluation> done;
  for (auto& e : out)
    if (finished.count(e.id)) done.push_back(std::move(e));
  return done;
}

std::set<std::string> varying_setting_keys(const std::vector<Evaluation>& evals) {
  std::map<std::string, std::set<std::string>> values;
  for (auto& e : evals)
    for (auto& [k, v] : e.setting) values[k].insert(v.dump());
  std::set<std::string> out;
  for (auto& [k, vs] : values)
    if (vs.size() > 1) out.insert(k);
  return out;
}

}  // namespace featjnd::analysis
