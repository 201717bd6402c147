// The paper's comparisons, computed once from the evaluations (analysis/evaluations.h): curves
// of each method per setting with mean ± std over seeds, FeatJND against Gaussian noise at
// matched NRMSE, and token-wise quantization at matched nominal budget and at matched measured
// NRMSE. Renderers (the text report, JSON, Table 2) only format what is here.
#pragma once

#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/evaluations.h"

namespace featjnd::analysis {

struct Stat {
  double mean = NAN, std = NAN;  // std: sample standard deviation (0 for one value)
  size_t n = 0;
};
Stat stat_of(const std::vector<double>& values);

// Linear interpolation of y(x) through points (sorted here); nullopt outside their x range.
std::optional<double> interpolate(std::vector<std::pair<double, double>> points, double x);

// One strength of one method in one setting: its replicates (seeds) and their statistics.
struct Point {
  double strength = 0;
  std::vector<const Evaluation*> runs;
  Stat metric, nrmse, cosine;
};

struct Curve {
  std::string method;  // "gaussian", "featjnd", "featjnd-mean", "quant-random", ...
  std::string label;   // the method and its other varying parameters ("quant-featjnd floor=0")
  std::string strength_key;
  std::vector<Point> points;  // by increasing strength
  const Point* at(double strength) const;
};

struct Group {
  std::map<std::string, nlohmann::json> setting;  // the varying parameters' values
  std::string network, backbone;                  // as in Evaluation
  std::string label;
  Stat clean;  // the clean metric, one value per network (global seed)
  std::vector<Curve> curves;
  const Curve* curve(const std::string& label) const;
};

struct Analysis {
  std::shared_ptr<const std::vector<Evaluation>> evals;  // what the groups' points point into
  std::string metric;
  std::vector<std::string> varying;  // the setting keys that tell groups apart
  std::vector<Group> groups;
};

// "swin_t neck=fpn discrepancy=det lambda=0.1": the network, then the other varying parameters by
// name (the backbone's plugin, arch, split and neck are the network's description already).
std::string setting_label(const std::map<std::string, nlohmann::json>& varying, const std::string& network,
                          const std::string& backbone_component);

// Labels that tell the groups apart: the backbone's own parameters (a custom model's depths, say)
// only where the networks' descriptions do not already; the keys in `without` left out.
std::vector<std::string> labels_of(const std::vector<const Group*>& groups, const std::set<std::string>& without);

// The statistics of another metric over a point's runs (top-5 beside top-1, say).
Stat metric_stat(const Point& p, const std::string& key);

// Groups the evaluations by setting and builds every curve for `metric`.
Analysis analyse(std::vector<Evaluation> evals, const std::string& metric);

// A method's points against a baseline interpolated, per replicate, at the method's NRMSE.
struct MatchedRow {
  double strength = 0, nrmse = NAN, value = NAN;
  Stat baseline;
  double diff = NAN, baseline_drop = NAN;  // value − baseline mean; clean − baseline mean
};
struct Matched {
  std::vector<MatchedRow> rows;
  int wins = 0, counted = 0;  // counted: rows where the baseline lost ≥ 1 point (0.01)
};
Matched match_nrmse(const Group& g, const Curve& method, const Curve& baseline, const std::string& metric);

// Token-wise quantization per budget σ_q: nominal budget and matched measured NRMSE.
struct QuantRow {
  double sigma_q = 0;
  Stat guided, random, uniform;                    // the metric
  Stat guided_nrmse, random_nrmse, uniform_nrmse;  // measured NRMSE
  Stat random_at, uniform_at;  // random and uniform interpolated at the guided quantizer's NRMSE
};
struct Quantization {
  std::string suffix;  // the varying quantizer parameters these rows share ("" or "floor=0")
  std::vector<QuantRow> rows;
  // Rows where FeatJND-guided is above: random, uniform at the nominal budget; at matched NRMSE.
  int above_random = 0, above_uniform = 0, above_random_at = 0, above_uniform_at = 0;
  int compared_random = 0, compared_uniform = 0, compared_random_at = 0, compared_uniform_at = 0;
};
std::vector<Quantization> quantization(const Group& g, const std::string& metric);

nlohmann::json to_json(const Stat& s);
// The whole analysis with every derived table, what `report --format json` prints.
nlohmann::json to_json(const Analysis& a);

}  // namespace featjnd::analysis
