// The finished evaluations of a results database, as the analysis sees them: what each run
// measured, which method it applied at which strength, and the setting it belongs to.
//
// The one place where runs become comparable groups (the text report, `report --format json`,
// Table 2, the figures tool and the HTML page all read what this layer produces):
//   method     the distortion: clean, gaussian, featjnd (featjnd-mean, featjnd-shuffled for the
//              controls), quant-featjnd, quant-random, quant-uniform, or a plugin's own name;
//   strength   the parameter a method is swept over (sigma, alpha, sigma_q);
//   replicate  seeds: the global seed and the distortion's seed parameters, averaged over;
//   setting    every other parameter that varies in the database *and that the run depends on*
//              (the stages' own "hashed" parameters, upstream runs included): the backbone, the
//              task, the fit (λ, D_det or D_seg, ...). A run without a fit (Gaussian noise,
//              uniform quantization) belongs to every setting that agrees with it where both
//              say something.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace featjnd::sql {
class Database;
}

namespace featjnd::analysis {

struct Evaluation {
  int64_t id = 0;
  std::string label;                          // the run's label (its swept values)
  std::string method;                         // see above
  std::string strength_key;                   // "sigma", "alpha", "sigma_q" or "" (clean)
  double strength = 0;
  std::map<std::string, nlohmann::json> method_params;  // the distortion's own, but strength and seeds
  std::map<std::string, nlohmann::json> setting;        // relevant "component.param" values (no seeds)
  std::string replicate;                      // the seeds, as text ("seed=0 quant-random.seed=3")
  int64_t seed = 0;                           // the global seed (one network per seed)
  std::string backbone;                       // the backbone's component name
  std::string network;                        // "resnet18 split=layer3", "swin_t neck=fpn", "pvt_v2"
  bool fitted = false;                        // an upstream fit stage
  std::map<std::string, double> metrics;      // step-0 metrics: the task's, clean.*, nrmse, cosine, quant.*
};

// Every finished evaluation, ordered by run id. Databases written before the runs' configuration
// named its hashed parameters fall back to every parameter of the run.
std::vector<Evaluation> load_evaluations(sql::Database& db);

// The backbone in a few words: its architecture (or plugin, for a custom one), split and neck.
std::string network_of(const nlohmann::json& backbone_component);

// The parameters whose value differs between evaluations (only where a run depends on them).
std::set<std::string> varying_setting_keys(const std::vector<Evaluation>& evals);

}  // namespace featjnd::analysis
