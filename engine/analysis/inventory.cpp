#include "analysis/inventory.h"

#include <map>
#include <set>

#include "analysis/evaluations.h"
#include "analysis/table2.h"
#include "analysis/tables.h"

namespace featjnd::analysis {
namespace {

nlohmann::json column(sql::Statement& st, int i) {
  switch (st.type(i)) {
    case sql::Statement::Type::integer: return st.integer(i);
    case sql::Statement::Type::real: return st.real(i);
    case sql::Statement::Type::text: return st.text(i);
    default: return nullptr;
  }
}

const nlohmann::json& backbone_of(const nlohmann::json& cfg) {
  return cfg.at("components").at(cfg.at("roles").at("backbone").get<std::string>());
}

}  // namespace

nlohmann::json runs_json(Store& store) {
  auto& db = store.db();
  std::map<int64_t, nlohmann::json> runs;
  auto st = db.prepare("SELECT id, stage, stage_type, label, status, end_time - start_time FROM runs ORDER BY id");
  while (st.step())
    runs[st.integer(0)] = {{"id", st.integer(0)}, {"stage", st.text(1)}, {"type", st.text(2)}, {"label", st.text(3)},
                           {"status", st.text(4)}, {"seconds", column(st, 5)}, {"params", nlohmann::json::object()},
                           {"metrics", nlohmann::json::object()}};
  auto p = db.prepare("SELECT run_id, key, value FROM params");
  while (p.step())
    if (auto it = runs.find(p.integer(0)); it != runs.end()) it->second["params"][p.text(1)] = column(p, 2);
  auto m = db.prepare("SELECT run_id, key, value FROM metrics WHERE step = 0");
  while (m.step())
    if (auto it = runs.find(m.integer(0)); it != runs.end()) it->second["metrics"][m.text(1)] = column(m, 2);
  nlohmann::json out = nlohmann::json::array();
  for (auto& [id, r] : runs) out.push_back(std::move(r));
  return out;
}

nlohmann::json inspections_json(Store& store) {
  auto& db = store.db();
  nlohmann::json out = nlohmann::json::array();
  auto st = db.prepare("SELECT id, stage, label, config_json FROM runs WHERE stage_type='inspect' AND status='finished' "
                       "ORDER BY id");
  while (st.step()) {
    const int64_t id = st.integer(0);
    std::map<int64_t, nlohmann::json> images;
    for (auto& [name, path] : store.artifacts_of(id)) {
      // "003_ig_clean.png": image 3, file "ig_clean"
      const auto us = name.find('_'), dot = name.rfind('.');
      if (us == std::string::npos || dot == std::string::npos || name.compare(dot, 4, ".png") != 0) continue;
      const int64_t index = std::stoll(name.substr(0, us));
      images[index]["index"] = index;
      images[index]["files"][name.substr(us + 1, dot - us - 1)] = path;
    }
    auto m = db.prepare("SELECT key, step, value FROM metrics WHERE run_id = ? AND key LIKE 'inspect.%'");
    m.bind(1, id);
    while (m.step()) images[m.integer(1)]["metrics"][m.text(0).substr(8)] = m.real(2);
    nlohmann::json list = nlohmann::json::array();
    for (auto& [i, im] : images) list.push_back(im);
    out.push_back({{"run", id}, {"stage", st.text(1)}, {"label", st.text(2)},
                   {"network", network_of(backbone_of(nlohmann::json::parse(st.text(3))))}, {"images", list}});
  }
  return out;
}

nlohmann::json provenance_json(Store& store) {
  auto& db = store.db();
  nlohmann::json experiments = nlohmann::json::array(), invocations = nlohmann::json::array();
  auto e = db.prepare("SELECT name, description FROM experiments ORDER BY id");
  while (e.step()) experiments.push_back({{"name", e.text(0)}, {"description", e.text(1)}});
  auto i = db.prepare("SELECT id, started_at, ended_at, exit_status, host, command, spec_file, spec_json, overrides, "
                      "engine_version, git_commit, git_dirty, torch_version FROM invocations ORDER BY id");
  while (i.step()) {
    nlohmann::json plugins = nlohmann::json::array();
    auto p = db.prepare("SELECT kind, name, version, file, file_sha256 FROM plugin_versions WHERE invocation_id = ?");
    p.bind(1, i.integer(0));
    while (p.step())
      plugins.push_back({{"kind", p.text(0)}, {"name", p.text(1)}, {"version", p.text(2)}, {"file", p.text(3)},
                         {"sha256", p.text(4)}});
    invocations.push_back({{"id", i.integer(0)}, {"started_at", column(i, 1)}, {"ended_at", column(i, 2)},
                           {"exit_status", column(i, 3)}, {"host", i.text(4)}, {"command", i.text(5)},
                           {"spec_file", column(i, 6)}, {"spec", nlohmann::json::parse(i.text(7))},
                           {"overrides", nlohmann::json::parse(i.text(8))}, {"engine_version", i.text(9)},
                           {"git_commit", i.text(10)}, {"git_dirty", i.integer(11) != 0}, {"torch_version", i.text(12)},
                           {"plugins", plugins}});
  }
  return {{"experiments", experiments}, {"invocations", invocations}};
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    auto comma = s.find(',', start);
    auto item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

nlohmann::json report_json(Store& store, const std::vector<Evaluation>& evals, const std::vector<std::string>& metrics,
                           const std::string& db) {
  std::set<std::string> available;
  for (auto& e : evals)
    for (auto& [k, v] : e.metrics) available.insert(k);
  nlohmann::json analyses = nlohmann::json::object();
  for (auto& k : metrics) analyses[k] = to_json(analyse(evals, k));
  nlohmann::json t2 = nlohmann::json::parse(render_table2(table2(evals), "json"));
  return {{"database", db},         {"provenance", provenance_json(store)},
          {"metrics", available},   {"analyses", analyses},
          {"table2", t2["table2"]}, {"inspections", inspections_json(store)},
          {"runs", runs_json(store)}};
}

}  // namespace featjnd::analysis
