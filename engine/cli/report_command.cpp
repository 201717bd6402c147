// `report DB`: the paper's tables from a results database — FeatJND against Gaussian noise at
// matched NRMSE, the α calibration table, the input-adaptivity controls, token-wise quantization.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "core/errors.h"
#include "store/store.h"

namespace featjnd::cli {
namespace {

struct EvalRun {
  std::string group;        // the backbone (and task) configuration
  std::string distortion;   // plugin name, or "" for a clean evaluation
  nlohmann::json params;    // the distortion's parameters
  std::map<std::string, double> metrics;
};

struct Stat {
  double mean = NAN, std = NAN;
  size_t n = 0;
};

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

// Linear interpolation of y(x) on points sorted by x; nullopt outside their range.
std::optional<double> interpolate(std::vector<std::pair<double, double>> pts, double x) {
  std::sort(pts.begin(), pts.end());
  if (pts.size() < 2 || x < pts.front().first || x > pts.back().first) return std::nullopt;
  for (size_t i = 1; i < pts.size(); ++i) {
    if (x <= pts[i].first) {
      auto [x0, y0] = pts[i - 1];
      auto [x1, y1] = pts[i];
      return x1 == x0 ? y1 : y0 + (y1 - y0) * (x - x0) / (x1 - x0);
    }
  }
  return pts.back().second;
}

std::string pct(double v) { return std::isnan(v) ? "—" : fmt::format("{:6.2f}", 100.0 * v); }
std::string num(double v) { return std::isnan(v) ? "—" : fmt::format("{:.4g}", v); }
double metric(const EvalRun& r, const std::string& k) {
  auto it = r.metrics.find(k);
  return it == r.metrics.end() ? NAN : it->second;
}
double pnum(const EvalRun& r, const std::string& k) {
  return r.params.contains(k) && r.params[k].is_number() ? r.params[k].get<double>() : NAN;
}
std::string pstr(const EvalRun& r, const std::string& k, const std::string& dflt = "") {
  return r.params.contains(k) && r.params[k].is_string() ? r.params[k].get<std::string>() : dflt;
}

// "resnet arch=resnet18 split=layer4": the parameters that tell groups apart, plus arch and split.
std::map<std::string, std::string> group_labels(const std::map<std::string, nlohmann::json>& groups) {
  std::map<std::string, std::set<std::string>> values;
  for (auto& [key, cfg] : groups)
    for (auto it = cfg["params"].begin(); it != cfg["params"].end(); ++it) values[it.key()].insert(it.value().dump());
  std::map<std::string, std::string> out;
  for (auto& [key, cfg] : groups) {
    std::string label = cfg["plugin"].get<std::string>();
    for (auto it = cfg["params"].begin(); it != cfg["params"].end(); ++it) {
      bool keep = values[it.key()].size() > 1 || it.key() == "arch" || it.key() == "split" ||
                  (it.key() == "neck" && it.value() != "none");
      if (keep) label += " " + it.key() + "=" + (it.value().is_string() ? it.value().get<std::string>() : it.value().dump());
    }
    out[key] = label;
  }
  return out;
}

}  // namespace

int cmd_report(const std::vector<std::string>& args) {
  po::options_description opts("report options");
  std::string db, key;
  opts.add_options()("db", po::value(&db)->required(), "results database")(
      "metric", po::value(&key)->default_value(""),
      "the metric of the tables: top1 (classification), bbox.AP, segm.AP, ... (default: top1, else bbox.AP)");
  po::positional_options_description pos;
  pos.add("db", 1);
  po::variables_map vm;
  if (!parse("report", "DB [--metric KEY]", args, opts, pos, vm)) return 0;
  Store store(db, Store::Open::read_only);
  auto& d = store.db();

  std::vector<EvalRun> runs;
  std::map<std::string, nlohmann::json> groups;
  std::map<int64_t, size_t> by_id;
  auto st = d.prepare("SELECT id, config_json FROM runs WHERE stage_type='evaluate' AND status='finished' ORDER BY id");
  while (st.step()) {
    auto cfg = nlohmann::json::parse(st.text(1));
    const auto& roles = cfg.at("roles");
    const auto& comps = cfg.at("components");
    EvalRun r;
    auto backbone = comps.at(roles.at("backbone").get<std::string>());
    auto task = comps.at(roles.at("task").get<std::string>());
    nlohmann::json g = {{"plugin", backbone.at("plugin")}, {"params", backbone.at("params")}};
    g["params"]["task"] = task.at("plugin");
    r.group = g.dump();
    groups[r.group] = g;
    if (roles.contains("distortion")) {
      const auto& dc = comps.at(roles.at("distortion").get<std::string>());
      r.distortion = dc.at("plugin").get<std::string>();
      r.params = dc.at("params");
    }
    by_id[st.integer(0)] = runs.size();
    runs.push_back(std::move(r));
  }
  auto m = d.prepare("SELECT m.run_id, m.key, m.value FROM metrics m JOIN runs r ON r.id = m.run_id "
                     "WHERE r.stage_type='evaluate' AND r.status='finished' AND m.step = 0");
  while (m.step())
    if (auto it = by_id.find(m.integer(0)); it != by_id.end()) runs[it->second].metrics[m.text(1)] = m.real(2);
  if (runs.empty()) {
    std::printf("no finished evaluations in %s\n", db.c_str());
    return 0;
  }
  auto labels = group_labels(groups);
  if (key.empty()) {
    key = "bbox.AP";
    for (auto& r : runs)
      if (r.metrics.count("top1")) key = "top1";
  }
  bool known = false;
  for (auto& r : runs) known = known || r.metrics.count(key);
  if (!known) throw UserError(fmt::format("report: no evaluation in {} has the metric '{}'", db, key));
  // The second column of the calibration table: top-5 beside top-1, AP50 beside an AP.
  const std::string second = key == "top1" ? "top5" : key.substr(0, key.rfind('.') + 1) + "AP50";
  const std::string shown = key == "top1" ? "top-1" : key;
  const char* K = shown.c_str();

  for (auto& [gkey, gcfg] : groups) {
    std::vector<const EvalRun*> g;
    for (auto& r : runs)
      if (r.group == gkey) g.push_back(&r);
    double clean = NAN;
    for (auto* r : g)
      if (!std::isnan(metric(*r, "clean." + key))) clean = metric(*r, "clean." + key);
    std::printf("\n== %s  (clean %s %s%%)\n", labels[gkey].c_str(), K, pct(clean).c_str());

    // Gaussian curves, one per seed: NRMSE -> top-1.
    std::map<int64_t, std::vector<std::pair<double, double>>> gauss;
    std::map<double, std::vector<const EvalRun*>> gauss_by_sigma;
    for (auto* r : g)
      if (r->distortion == "gaussian") {
        gauss[static_cast<int64_t>(pnum(*r, "seed"))].push_back({metric(*r, "nrmse"), metric(*r, key)});
        gauss_by_sigma[pnum(*r, "sigma")].push_back(r);
      }

    // FeatJND, by λ then α.
    std::map<double, std::map<std::string, std::map<double, const EvalRun*>>> fj;  // λ -> mode -> α
    for (auto* r : g)
      if (r->distortion == "featjnd") fj[pnum(*r, "lambda")][pstr(*r, "mode", "adaptive")][pnum(*r, "alpha")] = r;

    if (!gauss_by_sigma.empty()) {
      std::printf("\nGaussian noise (%zu seeds)\n  %8s %9s %16s\n", gauss.size(), "sigma", "NRMSE", fmt::format("{} % (±std)", key).c_str());
      for (auto& [sigma, rs] : gauss_by_sigma) {
        std::vector<double> n, t;
        for (auto* r : rs) {
          n.push_back(metric(*r, "nrmse"));
          t.push_back(metric(*r, key));
        }
        auto sn = stat_of(n), stt = stat_of(t);
        std::printf("  %8s %9s %9s ± %5s\n", num(sigma).c_str(), num(sn.mean).c_str(), pct(stt.mean).c_str(),
                    pct(stt.std).c_str());
      }
    }

    for (auto& [lambda, modes] : fj) {
      auto ad = modes.find("adaptive");
      if (ad != modes.end()) {
        std::printf("\nFeatJND (lambda %s) against Gaussian noise at matched NRMSE\n", num(lambda).c_str());
        std::printf("  %7s %9s %12s %20s %9s %12s\n", "alpha", "NRMSE", fmt::format("FeatJND {}", key).c_str(),
                    fmt::format("Gaussian {} (±std)", key).c_str(), "diff", "Gauss. drop");
        int wins = 0, counted = 0;
        for (auto& [alpha, r] : ad->second) {
          double nr = metric(*r, "nrmse"), t = metric(*r, key);
          std::vector<double> at;
          for (auto& [seed, pts] : gauss)
            if (auto v = interpolate(pts, nr)) at.push_back(*v);
          auto s = stat_of(at);
          double diff = t - s.mean, drop = clean - s.mean;
          if (!std::isnan(drop) && drop >= 0.01) {
            ++counted;
            if (diff > 0) ++wins;
          }
          std::printf("  %7s %9s %12s %12s ± %5s %9s %12s\n", num(alpha).c_str(), num(nr).c_str(), pct(t).c_str(),
                      pct(s.mean).c_str(), pct(s.std).c_str(), pct(diff).c_str(), pct(drop).c_str());
        }
        if (counted)
          std::printf("  FeatJND above Gaussian at %d of the %d matched points where Gaussian lost >= 1 point%s\n", wins,
                      counted, wins == counted ? " (all)" : "");
        else
          std::printf("  (no matched point where the Gaussian curve has lost >= 1 point)\n");

        std::printf("\nCalibration: drop from clean %s against alpha (lambda %s)\n  %7s %9s %9s %9s %9s\n", K,
                    num(lambda).c_str(), "alpha", K, "drop", second.c_str(), "cosine");
        for (auto& [alpha, r] : ad->second)
          std::printf("  %7s %9s %9s %9s %9s\n", num(alpha).c_str(), pct(metric(*r, key)).c_str(),
                      pct(clean - metric(*r, key)).c_str(), pct(metric(*r, second)).c_str(),
                      num(metric(*r, "cosine")).c_str());
      }
      if (modes.size() > 1) {
        std::printf("\nControls (lambda %s): %s %% [NRMSE] of the learned map, its mean map, its channel-shuffled map\n",
                    num(lambda).c_str(), K);
        std::printf("  %7s %20s %20s %20s\n", "alpha", "adaptive", "mean map", "shuffled");
        std::set<double> alphas;
        for (auto& [mode, by_alpha] : modes)
          for (auto& [a, r] : by_alpha) alphas.insert(a);
        for (double a : alphas) {
          std::string cells;
          for (auto mode : {"adaptive", "mean", "shuffled"}) {
            const EvalRun* r = nullptr;
            if (auto it = modes.find(mode); it != modes.end())
              if (auto jt = it->second.find(a); jt != it->second.end()) r = jt->second;
            cells += r ? fmt::format(" {:>9} [{:>8}]", pct(metric(*r, key)), num(metric(*r, "nrmse")))
                       : fmt::format(" {:>20}", "—");
          }
          std::printf("  %7s%s\n", num(a).c_str(), cells.c_str());
        }
      }
    }

    // Quantization, by σ_q.
    std::map<double, std::map<std::string, std::vector<const EvalRun*>>> quant;
    for (auto* r : g)
      if (r->distortion.rfind("quant-", 0) == 0) quant[pnum(*r, "sigma_q")][r->distortion].push_back(r);
    if (!quant.empty()) {
      std::printf("\nToken-wise quantization at a matched budget: %s %% [measured NRMSE]\n", K);
      std::printf("  %8s %22s %28s %22s\n", "sigma_q", "FeatJND-guided", "random (±std over seeds)", "uniform");
      for (auto& [sq, by] : quant) {
        std::string cells;
        for (auto q : {"quant-featjnd", "quant-random", "quant-uniform"}) {
          auto it = by.find(q);
          if (it == by.end()) {
            cells += fmt::format(" {:>22}", "—");
            continue;
          }
          std::vector<double> t, n;
          for (auto* r : it->second) {
            t.push_back(metric(*r, key));
            n.push_back(metric(*r, "nrmse"));
          }
          auto s = stat_of(t);
          std::string c = it->second.size() > 1 ? fmt::format("{} ± {} [{}]", pct(s.mean), pct(s.std), num(stat_of(n).mean))
                                                : fmt::format("{} [{}]", pct(s.mean), num(stat_of(n).mean));
          cells += fmt::format(" {:>22}", c);
        }
        std::printf("  %8s%s\n", num(sq).c_str(), cells.c_str());
      }
    }
  }
  return 0;
}

}  // namespace featjnd::cli
