#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "featjnd/components.h"

namespace featjnd {

class PluginRegistry;
class Store;

// What the worker tells the scheduler while a run goes on.
struct RunEvents {
  std::function<void(int64_t done, int64_t total, const std::string& note)> progress;
  std::function<void(const std::string& key, double value)> metric;
};

struct RunRequest {
  int64_t run_id = 0;
  std::string hash;
  nlohmann::json config;  // PlannedRun::config
  std::string network_key;  // PlannedRun::network_key
  std::vector<int64_t> ancestors;  // nearest first: whose artifacts this run may read
};

// Executes prepare / fit / evaluate runs against the plugins; keeps the most recent task network
// and its clean evaluation features so consecutive runs of one sweep share them.
class StageRunner {
 public:
  StageRunner(const PluginRegistry& plugins, Store& store, std::string device);
  ~StageRunner();
  void run(const RunRequest& request, const RunEvents& events);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// NRMSE of PAPER.md eq. 18 and cosine similarity, per sample, averaged over FPN levels:
// returns two tensors of shape B.
std::pair<torch::Tensor, torch::Tensor> distortion_strength(const Features& clean,
                                                            const Features& distorted,
                                                            double eps = 1e-12);

}  // namespace featjnd
