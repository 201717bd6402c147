// `report DB`: the paper's tables from a results database, as text or JSON — FeatJND against
// Gaussian noise at matched NRMSE, the α calibration table, the input-adaptivity controls,
// token-wise quantization at matched budget and at matched measured NRMSE — and `--table2`, the
// paper's Table 2. Every number comes from engine/analysis; this file only formats.
#include <cstdio>

#include <fmt/format.h>

#include "analysis/evaluations.h"
#include "analysis/format.h"
#include "analysis/inventory.h"
#include "analysis/rate.h"
#include "analysis/table2.h"
#include "analysis/tables.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/html_report.h"
#include "core/errors.h"
#include "store/store.h"

namespace featjnd::cli {
namespace {

using namespace analysis;

// Percentages in the text tables: six characters wide.
std::string pct6(double v) { return analysis::pct(v, 6); }
std::string num(double v) { return std::isnan(v) ? "—" : fmt::format("{:.4g}", v); }
std::string pct_pm(const Stat& s) { return s.n > 1 ? pct6(s.mean) + " ± " + pct6(s.std) : pct6(s.mean); }

// The default metric: top-1 where a classifier was evaluated, else bbox AP.
std::string default_metric(const std::vector<Evaluation>& evals) {
  for (auto& e : evals)
    if (e.metrics.count("top1")) return "top1";
  return "bbox.AP";
}

void print_curve(const Curve& c, const char* K) {
  size_t seeds = 0;
  for (auto& p : c.points) seeds = std::max(seeds, p.runs.size());
  std::printf("\n%s (%zu run%s per point)\n  %8s %9s %18s %9s\n", c.label.c_str(), seeds, seeds == 1 ? "" : "s",
              c.strength_key.c_str(), "NRMSE", fmt::format("{} % (±std)", K).c_str(), "cosine");
  for (auto& p : c.points)
    std::printf("  %8s %9s %18s %9s\n", num(p.strength).c_str(), num(p.nrmse.mean).c_str(), pct_pm(p.metric).c_str(),
                num(p.cosine.mean).c_str());
}

void print_matched(const Group& g, const Curve& fj, const Curve& gauss, const std::string& metric, const char* K) {
  auto m = match_nrmse(g, fj, gauss, metric);
  std::printf("\n%s against Gaussian noise at matched NRMSE\n  %7s %9s %12s %20s %9s %12s\n", fj.label.c_str(), "alpha",
              "NRMSE", fmt::format("FeatJND {}", K).c_str(), fmt::format("Gaussian {} (±std)", K).c_str(), "diff",
              "Gauss. drop");
  for (auto& r : m.rows)
    std::printf("  %7s %9s %12s %12s ± %5s %9s %12s\n", num(r.strength).c_str(), num(r.nrmse).c_str(), pct6(r.value).c_str(),
                pct6(r.baseline.mean).c_str(), pct6(r.baseline.std).c_str(), pct6(r.diff).c_str(), pct6(r.baseline_drop).c_str());
  if (m.counted)
    std::printf("  %s above Gaussian at %d of the %d matched points where Gaussian lost >= 1 point%s\n", fj.label.c_str(),
                m.wins, m.counted, m.wins == m.counted ? " (all)" : "");
  else
    std::printf("  (no matched point where the Gaussian curve has lost >= 1 point)\n");
}

void print_calibration(const Group& g, const Curve& fj, const std::string& metric, const char* K) {
  // The second column: top-5 beside top-1, AP50 beside an AP.
  const std::string second = metric == "top1" ? "top5" : metric.substr(0, metric.rfind('.') + 1) + "AP50";
  std::printf("\nCalibration: drop from clean %s against alpha (%s)\n  %7s %9s %9s %9s %9s\n", K, fj.label.c_str(), "alpha",
              K, "drop", second.c_str(), "cosine");
  for (auto& p : fj.points)
    std::printf("  %7s %9s %9s %9s %9s\n", num(p.strength).c_str(), pct6(p.metric.mean).c_str(),
                pct6(g.clean.mean - p.metric.mean).c_str(), pct6(metric_stat(p, second).mean).c_str(),
                num(p.cosine.mean).c_str());
}

void print_controls(const Group& g, const char* K) {
  const Curve* modes[] = {g.curve("featjnd"), g.curve("featjnd-mean"), g.curve("featjnd-shuffled")};
  if (!modes[1] && !modes[2]) return;
  std::printf("\nControls: %s %% [NRMSE] of the learned map, its mean map, its channel-shuffled map\n", K);
  std::printf("  %7s %20s %20s %20s\n", "alpha", "adaptive", "mean map", "shuffled");
  std::set<double> alphas;
  for (auto* c : modes)
    if (c)
      for (auto& p : c->points) alphas.insert(p.strength);
  for (double a : alphas) {
    std::string cells;
    for (auto* c : modes) {
      const Point* p = c ? c->at(a) : nullptr;
      cells += p ? fmt::format(" {:>9} [{:>8}]", pct6(p->metric.mean), num(p->nrmse.mean)) : fmt::format(" {:>20}", "—");
    }
    std::printf("  %7s%s\n", num(a).c_str(), cells.c_str());
  }
}

void print_quantization(const Group& g, const std::string& metric, const char* K) {
  for (auto& q : quantization(g, metric)) {
    std::printf("\nToken-wise quantization%s: %s %% at the nominal budget [measured NRMSE], and random / uniform at "
                "the FeatJND-guided quantizer's measured NRMSE\n",
                q.suffix.c_str(), K);
    std::printf("  %8s %20s %26s %20s %18s %12s\n", "sigma_q", "FeatJND-guided", "random (±std)", "uniform",
                "random @NRMSE", "uniform @NRMSE");
    for (auto& r : q.rows)
      std::printf("  %8s %11s [%6s] %17s [%6s] %11s [%6s] %18s %12s\n", num(r.sigma_q).c_str(), pct6(r.guided.mean).c_str(),
                  num(r.guided_nrmse.mean).c_str(), pct_pm(r.random).c_str(), num(r.random_nrmse.mean).c_str(),
                  pct6(r.uniform.mean).c_str(), num(r.uniform_nrmse.mean).c_str(), pct_pm(r.random_at).c_str(),
                  pct6(r.uniform_at.mean).c_str());
    std::printf("  FeatJND-guided above random at %d/%d budgets, above uniform at %d/%d; at matched measured NRMSE: "
                "above random at %d/%d, above uniform at %d/%d\n",
                q.above_random, q.compared_random, q.above_uniform, q.compared_uniform, q.above_random_at,
                q.compared_random_at, q.above_uniform_at, q.compared_uniform_at);
  }
}

// Rate–accuracy of the codec-mode runs: bits per input pixel against the metric, and BD-rates.
void print_rate(const Group& g, const std::string& metric, const char* K) {
  const auto curves = rate_curves(g);
  if (curves.empty()) return;
  std::printf("\nRate–accuracy (codec mode): %s %% against bits per input pixel\n  %-26s %9s %10s %12s %10s %10s\n", K,
              "method", "strength", "bpp", "bits/elem.", "side %", K);
  for (auto& c : curves)
    for (auto& p : c.points)
      std::printf("  %-26s %9s %10s %12s %10s %10s\n", c.label.c_str(), num(p.strength).c_str(), num(p.bpp).c_str(),
                  num(p.bits_per_element).c_str(), pct6(p.side_share).c_str(), pct6(p.metric).c_str());
  const auto rates = rate_json(g);
  auto value = [](const nlohmann::json& r) {
    return r["bd_rate"].is_null() ? "— (" + r["why"].get<std::string>() + ")"
                                  : fmt::format("{:+.2f} %", r["bd_rate"].get<double>());
  };
  auto range = [](const nlohmann::json& r) {
    return r["low"].is_null() ? std::string("—") : pct6(r["low"].get<double>()) + " % to " + pct6(r["high"].get<double>()) + " %";
  };
  for (auto& row : rates["bd_rates"]) {
    const auto& h = row["high_accuracy"];
    std::printf("  BD-rate of %s against %s: %s (%s %s); at >= 90 %% of clean: %s (%s)\n",
                row["test"].get<std::string>().c_str(), row["anchor"].get<std::string>().c_str(), value(row).c_str(), K,
                range(row).c_str(), value(h).c_str(), range(h).c_str());
  }
  if (!rates["bd_rates"].empty()) std::printf("  (BD-rate: negative when fewer bits reach equal accuracy)\n");
  (void)metric;
}

void print_group(const Group& g, const std::string& metric, bool rate) {
  const std::string shown = metric == "top1" ? "top-1" : metric;
  const char* K = shown.c_str();
  std::printf("\n== %s  (clean %s %s%%)\n", g.label.c_str(), K, pct6(g.clean.mean).c_str());
  const Curve* gauss = g.curve("gaussian");
  if (gauss) print_curve(*gauss, K);
  if (const Curve* fj = g.curve("featjnd")) {
    if (gauss) print_matched(g, *fj, *gauss, metric, K);
    print_calibration(g, *fj, metric, K);
  }
  print_controls(g, K);
  print_quantization(g, metric, K);
  if (rate) print_rate(g, metric, K);
  for (auto& c : g.curves)  // the methods the paper's tables do not name (a user's own plugin)
    if (c.method != "gaussian" && c.method != "clean" && c.method.rfind("featjnd", 0) != 0 &&
        c.method.rfind("quant-", 0) != 0)
      print_curve(c, K);
}

void check_metric(const std::vector<Evaluation>& evals, const std::string& key, const std::string& db) {
  for (auto& e : evals)
    if (e.metrics.count(key)) return;
  throw UserError(fmt::format("report: no evaluation in {} has the metric '{}'", db, key));
}

}  // namespace

int cmd_report(const std::vector<std::string>& args) {
  po::options_description opts("report options");
  std::string db, key, format, html, python;
  opts.add_options()("db", po::value(&db)->required(), "results database")(
      "metric", po::value(&key)->default_value(""),
      "the metric of the tables: top1 (classification), bbox.AP, segm.AP, ... (default: top1, else bbox.AP); with "
      "--format json a comma-separated list")(
      "table2", po::bool_switch(), "print the paper's Table 2 (quantization: FeatJND-based, Random, Δ, Uniform)")(
      "rate", po::bool_switch(), "add rate–accuracy (codec-mode runs: bpp against the metric) and BD-rates")(
      "format", po::value(&format)->default_value("text"), "text or json; with --table2 also md, csv, latex")(
      "html", po::value(&html), "write one self-contained HTML page (tables, figures, runs, images) to this file")(
      "python", po::value(&python), "with --html: the Python interpreter that draws the figures (default: $FEATJND_PYTHON, "
      "else the project's environment, else python3)");
  po::positional_options_description pos;
  pos.add("db", 1);
  po::variables_map vm;
  if (!parse("report", "DB [--metric KEY] [--table2] [--format text|json|md|csv|latex] [--html FILE [--python PY]]", args, opts, pos, vm))
    return 0;
  const bool t2 = vm["table2"].as<bool>();
  const std::set<std::string> formats = t2 ? std::set<std::string>{"text", "json", "md", "csv", "latex"}
                                           : std::set<std::string>{"text", "json"};
  if (!formats.count(format))
    throw UserError(fmt::format("report: --format {}: expected {}", format, t2 ? "text, json, md, csv or latex" : "text or json (md, csv, latex with --table2)"));
  Store store(db, Store::Open::read_only);
  store.check_integrity();  // no table from a value changed on disk (row checksums)
  auto evals = load_evaluations(store.db());
  if (t2) {
    auto blocks = table2(evals);
    if (blocks.empty()) throw UserError(fmt::format("report: no quantization runs (quant-featjnd) in {} for Table 2", db));
    std::fputs(render_table2(blocks, format).c_str(), stdout);
    return 0;
  }
  if (format == "json") {
    std::vector<std::string> keys = split_list(key);
    if (keys.empty() && !evals.empty()) keys.push_back(default_metric(evals));
    for (auto& k : keys) check_metric(evals, k, db);
    std::puts(report_json(store, evals, keys, db).dump(1).c_str());
    return 0;
  }
  if (!html.empty()) {
    std::vector<std::string> keys;
    for (const char* k : {"top1", "bbox.AP", "segm.AP", "bbox.AP50", "bbox.AP75", "bbox.AR100", "segm.AP50", "segm.AP75",
                          "segm.AR100"})
      for (auto& e : evals)
        if (e.metrics.count(k)) {
          keys.push_back(k);
          break;
        }
    write_html_report(report_json(store, evals, keys, db), html, python_interpreter(python));
    std::printf("%s\n", html.c_str());
    return 0;
  }
  if (evals.empty()) {
    std::printf("no finished evaluations in %s\n", db.c_str());
    return 0;
  }
  if (key.empty()) key = default_metric(evals);
  check_metric(evals, key, db);
  for (auto& g : analyse(evals, key).groups) print_group(g, key, vm["rate"].as<bool>());
  return 0;
}

}  // namespace featjnd::cli
