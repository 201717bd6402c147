// F + N(0, σ²), i.i.d. per element: the paper's baseline at matched NRMSE. The noise is drawn on
// the features' device from a generator seeded by (seed, batch): a run repeats its numbers on the
// same kind of device (CPU and CUDA generators draw different streams).
#include <torch/torch.h>

#include "featjnd/plugin.h"
#include "featjnd/random.h"

namespace {

class Gaussian : public featjnd::Distortion {
 public:
  explicit Gaussian(const featjnd::Params& p) : sigma_(p.real("sigma")), seed_(p.integer("seed")) {}
  featjnd::Features apply(const featjnd::Features& clean, const featjnd::ApplyInfo& info) override {
    if (clean.levels.empty()) return clean;
    auto gen = featjnd::seeded_generator(clean.levels.front().device(),
                                         static_cast<uint64_t>(seed_) * 0x9E3779B97F4A7C15ull +
                                             static_cast<uint64_t>(info.batch_index));
    featjnd::Features out = clean;
    for (auto& l : out.levels)
      l = l + (sigma_ * torch::randn(l.sizes(), gen, l.options().dtype(torch::kFloat))).to(l.scalar_type());
    return out;
  }

 private:
  double sigma_;
  int64_t seed_;
};

const featjnd_param_info kParams[] = {
    featjnd::param("sigma", "float", "0.1", "standard deviation σ", FEATJND_STAGE_EVALUATE, 0, 1e6),
    featjnd::param("seed", "int", "0", "noise seed", FEATJND_STAGE_EVALUATE, 0, 1e12),
};

}  // namespace

FEATJND_PLUGIN("distortion", "gaussian", "1.0", "i.i.d. Gaussian noise F + N(0, sigma^2), seeded", kParams, Gaussian)
