#include "analysis/tables.h"
#include "analysis/format.h"

#include "analysis/rate.h"

#include <algorithm>
#include <set>

namespace featjnd::analysis {
namespace {

using Setting = std::map<std::string, nlohmann::json>;
using ReplicateCurves = std::map<std::string, std::vector<std::pair<double, double>>>;


}  // namespace

// Parameters are named without their component, unless two components share the name.
std::string setting_label(const Setting& s, const std::string& network, const std::string& backbone) {
  std::map<std::string, int> name_count;
  for (auto& [k, v] : s) name_count[k.substr(k.find('.') + 1)]++;
  std::string label = network;
  for (auto& [k, v] : s) {
    if (k == backbone || k == backbone + ".arch" || k == backbone + ".split" || k == backbone + ".neck") continue;
    const auto dot = k.find('.');
    const auto name = dot == std::string::npos || name_count[k.substr(dot + 1)] > 1 ? k : k.substr(dot + 1);
    label += (label.empty() ? "" : " ") + name + "=" + text_of(v);
  }
  return label.empty() ? "all runs" : label;
}

namespace {

// Evaluations agree where both name a parameter; a run without a fit matches every fit.
bool agrees(const Setting& run, const Setting& group) {
  for (auto& [k, v] : run)
    if (auto it = group.find(k); it != group.end() && it->second != v) return false;
  return true;
}

Setting key_of(const Evaluation& e, const std::set<std::string>& varying) {
  Setting s;
  for (auto& [k, v] : e.setting)
    if (varying.count(k)) s[k] = v;
  return s;
}

// Per method, the parameters that vary among its runs (besides strength and seeds). A parameter
// some runs have and others lack varies too: runs of a plugin version before it existed (resumed
// into the same database) are another curve, not more seeds of this one.
std::map<std::string, std::set<std::string>> varying_method_keys(const std::vector<Evaluation>& evals) {
  std::map<std::string, std::map<std::string, std::set<std::string>>> seen;
  std::map<std::string, size_t> runs;
  std::map<std::string, std::map<std::string, size_t>> having;
  for (auto& e : evals) {
    ++runs[e.method];
    for (auto& [k, v] : e.method_params) seen[e.method][k].insert(v.dump()), ++having[e.method][k];
  }
  std::map<std::string, std::set<std::string>> out;
  for (auto& [m, keys] : seen)
    for (auto& [k, vs] : keys)
      if (vs.size() > 1 || having[m][k] < runs[m]) out[m].insert(k);
  return out;
}

std::vector<double> values_of(const std::vector<const Evaluation*>& runs, const std::string& key) {
  std::vector<double> v;
  for (auto* r : runs)
    if (auto it = r->metrics.find(key); it != r->metrics.end() && !std::isnan(it->second)) v.push_back(it->second);
  return v;
}

std::vector<Curve> curves_of(const std::vector<const Evaluation*>& members, const std::string& metric,
                             const std::map<std::string, std::set<std::string>>& method_keys) {
  std::map<std::string, std::map<double, std::vector<const Evaluation*>>> by_label;
  std::map<std::string, const Evaluation*> first;
  for (auto* e : members) {
    std::string label = e->method;
    if (auto it = method_keys.find(e->method); it != method_keys.end())
      for (auto& k : it->second)
        if (e->method_params.count(k)) label += " " + k + "=" + text_of(e->method_params.at(k));
    by_label[label][e->strength].push_back(e);
    first.emplace(label, e);
  }
  std::vector<Curve> curves;
  for (auto& [label, points] : by_label) {
    Curve c{first[label]->method, label, first[label]->strength_key, {}};
    for (auto& [strength, runs] : points) {
      Point p{strength, runs, stat_of(values_of(runs, metric)), stat_of(values_of(runs, "nrmse")),
              stat_of(values_of(runs, "cosine"))};
      c.points.push_back(std::move(p));
    }
    curves.push_back(std::move(c));
  }
  return curves;
}

Group make_group(Setting setting, std::vector<const Evaluation*> members, const std::string& metric,
                 const std::map<std::string, std::set<std::string>>& method_keys) {
  Group g;
  g.network = members.empty() ? "" : members.front()->network;
  g.backbone = members.empty() ? "" : members.front()->backbone;
  g.label = setting_label(setting, g.network, g.backbone);
  g.setting = std::move(setting);
  std::map<int64_t, double> clean;  // one network per global seed
  for (auto* e : members)
    if (auto it = e->metrics.find("clean." + metric); it != e->metrics.end()) clean.emplace(e->seed, it->second);
  std::vector<double> cv;
  for (auto& [s, v] : clean) cv.push_back(v);
  g.clean = stat_of(cv);
  g.curves = curves_of(members, metric, method_keys);
  return g;
}

// Replicate -> (NRMSE, metric) points of a curve: one baseline curve per seed.
ReplicateCurves per_replicate(const Curve& c, const std::string& metric) {
  ReplicateCurves out;
  for (auto& p : c.points)
    for (auto* r : p.runs) {
      auto n = r->metrics.find("nrmse"), m = r->metrics.find(metric);
      if (n != r->metrics.end() && m != r->metrics.end()) out[r->replicate].push_back({n->second, m->second});
    }
  return out;
}

Stat interpolated(const ReplicateCurves& curves, double x) {
  std::vector<double> at;
  for (auto& [rep, pts] : curves)
    if (auto v = interpolate(pts, x)) at.push_back(*v);
  return stat_of(at);
}

void count(double a, double b, int& above, int& compared) {
  if (std::isnan(a) || std::isnan(b)) return;
  ++compared;
  if (a > b) ++above;
}

}  // namespace

Stat stat_of(const std::vector<double>& v) {
  Stat s;
  s.n = v.size();
  if (v.empty()) return s;
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / double(v.size());
  double ss = 0;
  for (double x : v) ss += (x - s.mean) * (x - s.mean);
  s.std = v.size() > 1 ? std::sqrt(ss / double(v.size() - 1)) : 0.0;
  return s;
}

std::optional<double> interpolate(std::vector<std::pair<double, double>> pts, double x) {
  std::sort(pts.begin(), pts.end());
  if (pts.empty() || std::isnan(x) || x < pts.front().first || x > pts.back().first) return std::nullopt;
  if (pts.size() == 1) return pts.front().second;
  for (size_t i = 1; i < pts.size(); ++i) {
    if (x <= pts[i].first) {
      auto [x0, y0] = pts[i - 1];
      auto [x1, y1] = pts[i];
      return x1 == x0 ? y1 : y0 + (y1 - y0) * (x - x0) / (x1 - x0);
    }
  }
  return pts.back().second;
}

std::vector<std::string> labels_of(const std::vector<const Group*>& groups, const std::set<std::string>& without) {
  std::vector<std::string> full, brief;
  for (auto* g : groups) {
    Setting all, rest;
    for (auto& [k, v] : g->setting) {
      if (without.count(k)) continue;
      all[k] = v;
      if (k.rfind(g->backbone + ".", 0) != 0) rest[k] = v;
    }
    full.push_back(setting_label(all, g->network, g->backbone));
    brief.push_back(setting_label(rest, g->network, g->backbone));
  }
  const std::set<std::string> unique(brief.begin(), brief.end());
  return unique.size() == brief.size() ? brief : full;
}

Stat metric_stat(const Point& p, const std::string& key) { return stat_of(values_of(p.runs, key)); }

const Point* Curve::at(double s) const {
  for (auto& p : points)
    if (p.strength == s) return &p;
  return nullptr;
}

const Curve* Group::curve(const std::string& label) const {
  for (auto& c : curves)
    if (c.label == label) return &c;
  return nullptr;
}

Analysis analyse(std::vector<Evaluation> all, const std::string& metric) {
  Analysis a;
  // Only the evaluations that measured the metric: a spec's classifier chain has no bbox AP.
  all.erase(std::remove_if(all.begin(), all.end(), [&](const Evaluation& e) { return !e.metrics.count(metric); }),
            all.end());
  a.evals = std::make_shared<const std::vector<Evaluation>>(std::move(all));
  const auto& evals = *a.evals;
  a.metric = metric;
  const auto varying = varying_setting_keys(evals);
  a.varying.assign(varying.begin(), varying.end());
  const auto method_keys = varying_method_keys(evals);
  // Settings come from the fitted runs; runs that match none of them (no fit at all, or another
  // network) form settings of their own. A run joins settings of its own backbone only.
  using Anchor = std::pair<std::string, Setting>;  // backbone component, setting
  std::vector<Anchor> anchors;
  auto joins = [&](const Evaluation& e, const Anchor& x) { return e.backbone == x.first && agrees(key_of(e, varying), x.second); };
  for (auto& e : evals) {
    Anchor x{e.backbone, key_of(e, varying)};
    if (e.fitted && std::find(anchors.begin(), anchors.end(), x) == anchors.end()) anchors.push_back(x);
  }
  for (auto& e : evals)
    if (std::none_of(anchors.begin(), anchors.end(), [&](const Anchor& x) { return joins(e, x); }))
      anchors.push_back({e.backbone, key_of(e, varying)});
  std::sort(anchors.begin(), anchors.end());
  for (auto& x : anchors) {
    std::vector<const Evaluation*> members;
    for (auto& e : evals)
      if (joins(e, x)) members.push_back(&e);
    a.groups.push_back(make_group(x.second, members, metric, method_keys));
  }
  std::vector<const Group*> groups;
  for (auto& g : a.groups) groups.push_back(&g);
  auto labels = labels_of(groups, {});
  for (size_t i = 0; i < labels.size(); ++i) a.groups[i].label = labels[i];
  return a;
}

Matched match_nrmse(const Group& g, const Curve& method, const Curve& baseline, const std::string& metric) {
  Matched m;
  const auto base = per_replicate(baseline, metric);
  for (auto& p : method.points) {
    MatchedRow row;
    row.strength = p.strength;
    row.nrmse = p.nrmse.mean;
    row.value = p.metric.mean;
    row.baseline = interpolated(base, row.nrmse);
    row.diff = row.value - row.baseline.mean;
    row.baseline_drop = g.clean.mean - row.baseline.mean;
    if (!std::isnan(row.baseline_drop) && row.baseline_drop >= 0.01 && !std::isnan(row.diff)) {
      ++m.counted;
      if (row.diff > 0) ++m.wins;
    }
    m.rows.push_back(row);
  }
  return m;
}

std::vector<Quantization> quantization(const Group& g, const std::string& metric) {
  std::vector<Quantization> out;
  const std::string guided_name = "quant-featjnd";
  for (auto& c : g.curves) {
    if (c.method != guided_name) continue;
    Quantization q;
    q.suffix = c.label.substr(guided_name.size());
    const Curve* random = g.curve("quant-random" + q.suffix);
    const Curve* uniform = g.curve("quant-uniform" + q.suffix);
    if (!uniform) uniform = g.curve("quant-uniform");
    const auto random_curves = random ? per_replicate(*random, metric) : ReplicateCurves{};
    const auto uniform_curves = uniform ? per_replicate(*uniform, metric) : ReplicateCurves{};
    std::set<double> budgets;
    for (const Curve* k : {&c, random, uniform})
      if (k)
        for (auto& p : k->points) budgets.insert(p.strength);
    for (double s : budgets) {
      QuantRow r;
      r.sigma_q = s;
      if (auto* p = c.at(s)) r.guided = p->metric, r.guided_nrmse = p->nrmse;
      if (auto* p = random ? random->at(s) : nullptr) r.random = p->metric, r.random_nrmse = p->nrmse;
      if (auto* p = uniform ? uniform->at(s) : nullptr) r.uniform = p->metric, r.uniform_nrmse = p->nrmse;
      r.random_at = interpolated(random_curves, r.guided_nrmse.mean);
      r.uniform_at = interpolated(uniform_curves, r.guided_nrmse.mean);
      count(r.guided.mean, r.random.mean, q.above_random, q.compared_random);
      count(r.guided.mean, r.uniform.mean, q.above_uniform, q.compared_uniform);
      count(r.guided.mean, r.random_at.mean, q.above_random_at, q.compared_random_at);
      count(r.guided.mean, r.uniform_at.mean, q.above_uniform_at, q.compared_uniform_at);
      q.rows.push_back(r);
    }
    out.push_back(std::move(q));
  }
  return out;
}

nlohmann::json to_json(const Stat& s) {
  const auto num = json_number;
  return {{"mean", num(s.mean)}, {"std", num(s.std)}, {"n", s.n}};
}

namespace {

nlohmann::json curve_json(const Curve& c) {
  nlohmann::json points = nlohmann::json::array();
  for (auto& p : c.points) {
    nlohmann::json runs = nlohmann::json::array();
    for (auto* r : p.runs) runs.push_back({{"run", r->id}, {"replicate", r->replicate}});
    points.push_back({{"strength", p.strength}, {"metric", to_json(p.metric)}, {"nrmse", to_json(p.nrmse)},
                      {"cosine", to_json(p.cosine)}, {"runs", runs}});
  }
  return {{"method", c.method}, {"label", c.label}, {"strength_key", c.strength_key}, {"points", points}};
}

nlohmann::json matched_json(const Matched& m) {
  nlohmann::json rows = nlohmann::json::array();
  const auto num = json_number;
  for (auto& r : m.rows)
    rows.push_back({{"strength", r.strength}, {"nrmse", num(r.nrmse)}, {"value", num(r.value)},
                    {"baseline", to_json(r.baseline)}, {"diff", num(r.diff)}, {"baseline_drop", num(r.baseline_drop)}});
  return {{"rows", rows}, {"wins", m.wins}, {"counted", m.counted}};
}

nlohmann::json quant_json(const Quantization& q) {
  nlohmann::json rows = nlohmann::json::array();
  for (auto& r : q.rows)
    rows.push_back({{"sigma_q", r.sigma_q}, {"guided", to_json(r.guided)}, {"random", to_json(r.random)},
                    {"uniform", to_json(r.uniform)}, {"guided_nrmse", to_json(r.guided_nrmse)},
                    {"random_nrmse", to_json(r.random_nrmse)}, {"uniform_nrmse", to_json(r.uniform_nrmse)},
                    {"random_at_guided_nrmse", to_json(r.random_at)}, {"uniform_at_guided_nrmse", to_json(r.uniform_at)}});
  auto pair = [](int above, int compared) { return nlohmann::json{{"above", above}, {"compared", compared}}; };
  return {{"suffix", q.suffix},
          {"rows", rows},
          {"guided_above_random", pair(q.above_random, q.compared_random)},
          {"guided_above_uniform", pair(q.above_uniform, q.compared_uniform)},
          {"guided_above_random_at_nrmse", pair(q.above_random_at, q.compared_random_at)},
          {"guided_above_uniform_at_nrmse", pair(q.above_uniform_at, q.compared_uniform_at)}};
}

}  // namespace

nlohmann::json to_json(const Analysis& a) {
  nlohmann::json groups = nlohmann::json::array();
  for (auto& g : a.groups) {
    nlohmann::json setting = nlohmann::json::object(), curves = nlohmann::json::array(),
                   matched = nlohmann::json::array(), quant = nlohmann::json::array();
    for (auto& [k, v] : g.setting) setting[k] = v;
    for (auto& c : g.curves) curves.push_back(curve_json(c));
    if (const Curve* gauss = g.curve("gaussian"))
      for (auto& c : g.curves)
        if (c.method.rfind("featjnd", 0) == 0) {
          auto m = matched_json(match_nrmse(g, c, *gauss, a.metric));
          m["method"] = c.label;
          m["baseline"] = gauss->label;
          matched.push_back(m);
        }
    for (auto& q : quantization(g, a.metric)) quant.push_back(quant_json(q));
    groups.push_back({{"label", g.label}, {"setting", setting}, {"clean", to_json(g.clean)}, {"curves", curves},
                      {"matched_nrmse", matched}, {"quantization", quant}, {"rate", rate_json(g)}});
  }
  return {{"metric", a.metric}, {"varying", a.varying}, {"groups", groups}};
}

}  // namespace featjnd::analysis
