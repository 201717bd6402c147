// Test-only distortion without training: seeded Gaussian noise, with hooks the scheduler tests
// need (a deliberate abort, a delay).
#include <chrono>
#include <cstdlib>
#include <thread>

#include <torch/torch.h>

#include "execution_log.h"
#include "featjnd/plugin.h"

namespace {

class ToyNoise : public featjnd::Distortion {
 public:
  explicit ToyNoise(const featjnd::Params& p)
      : params_(p.json()), sigma_(p.real("sigma")), seed_(p.integer("seed")), sleep_ms_(p.integer("sleep_ms")),
        abort_if_sigma_(p.real("abort_if_sigma")) {}
  void begin_evaluation(featjnd::Backbone& backbone, featjnd::Task& task, featjnd::RunContext&) override {
    if (sigma_ == abort_if_sigma_) std::abort();  // the crash the scheduler must survive
    toy::log_execution("evaluate toy-noise", backbone.module(), task.head_module(), params_);
    if (sleep_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms_));
  }
  featjnd::Features apply(const featjnd::Features& clean, const featjnd::ApplyInfo& info) override {
    auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(seed_) * 1000003u +
                                              static_cast<uint64_t>(info.batch_index));
    featjnd::Features out = clean;
    for (auto& l : out.levels) l = l + sigma_ * torch::randn(l.sizes(), gen).to(l.device());
    return out;
  }

 private:
  nlohmann::json params_;
  double sigma_;
  int64_t seed_, sleep_ms_;
  double abort_if_sigma_;
};

const featjnd_param_info kParams[] = {
    featjnd::param("sigma", "float", "0.1", "noise standard deviation", FEATJND_STAGE_EVALUATE, 0, 1e3),
    featjnd::param("seed", "int", "0", "noise seed", FEATJND_STAGE_EVALUATE, 0, 1e9),
    featjnd::param("sleep_ms", "int", "0", "delay per run (tests)", FEATJND_STAGE_EVALUATE, 0, 1e6),
    featjnd::param("abort_if_sigma", "float", "-1", "abort() when sigma equals this (tests)", FEATJND_STAGE_EVALUATE),
};

}  // namespace

FEATJND_PLUGIN("distortion", "toy-noise", "1.0", "test distortion: seeded Gaussian noise", kParams, ToyNoise)
