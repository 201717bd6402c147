// Token-wise uniform quantization at a matched noise budget σ_q (PAPER.md, Evaluations 5). A token
// is one spatial position; its step Δ_t is shared by all channels: F_q = Δ_t · round(F / Δ_t).
//   featjnd: Δ_t = s·τ_t with τ_t = ‖J_t‖₂ / (‖F_t‖₂ + ε) and s = √12·σ_q / sqrt(mean_t τ_t²),
//            so that the uniform-error model mean_t(Δ_t²)/12 = σ_q² holds per sample;
//   random:  the same Δ values permuted over the tokens (seeded);
//   uniform: one step Δ = √12·σ_q.
// One source, three plugins: QUANT_GUIDE selects the step map.
#include <cmath>

#include <torch/torch.h>

#include "featjnd/plugin.h"
#include "featjnd_plugins/estimator.h"

#define QUANT_FEATJND 0
#define QUANT_RANDOM 1
#define QUANT_UNIFORM 2

namespace {

using namespace featjnd;

#if QUANT_GUIDE != QUANT_UNIFORM
// Per-sample step maps B×1×H×W from a FeatJND map.
torch::Tensor guided_steps(const torch::Tensor& f, const torch::Tensor& j, double sigma_q, double eps) {
  auto tau = j.norm(2, {1}, true) / (f.norm(2, {1}, true) + eps);  // B×1×H×W
  auto rms = tau.pow(2).mean({1, 2, 3}, true).sqrt().clamp_min(1e-30);
  return std::sqrt(12.0) * sigma_q * tau / rms;
}
#endif

torch::Tensor quantize(const torch::Tensor& f, const torch::Tensor& step) {
  auto safe = torch::where(step > 0, step, torch::ones_like(step));
  return torch::where(step > 0, safe * torch::round(f / safe), f);
}

class TokenQuantization : public Distortion {
 public:
  explicit TokenQuantization(const Params& p)
      : sigma_q_(p.real("sigma_q")), seed_(p.integer("seed")), eps_(p.real("eps")) {}

  void begin_evaluation(Backbone&, Task&, RunContext& ctx) override {
#if QUANT_GUIDE != QUANT_UNIFORM
    est_ = plugins::load_estimator(ctx, ctx.device());
#else
    (void)ctx;
#endif
  }

  Features apply(const Features& clean, const ApplyInfo& info) override {
    Features out = clean;
#if QUANT_GUIDE == QUANT_UNIFORM
    (void)info;
    for (auto& l : out.levels) l = quantize(l, torch::full({1, 1, 1, 1}, std::sqrt(12.0) * sigma_q_, l.options()));
#else
    auto j = est_->forward(clean);
    for (size_t i = 0; i < out.levels.size(); ++i) {
      auto step = guided_steps(clean.levels[i], j.levels[i], sigma_q_, eps_);
#if QUANT_GUIDE == QUANT_RANDOM
      // Same step values, tokens shuffled: one permutation per sample, from (seed, batch, level).
      auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(seed_) * 1000003ull +
                                                static_cast<uint64_t>(info.batch_index) * 101ull + i);
      auto flat = step.flatten(1);
      std::vector<torch::Tensor> rows;
      for (int64_t b = 0; b < flat.size(0); ++b)
        rows.push_back(flat[b].index_select(0, torch::randperm(flat.size(1), gen, torch::kLong).to(flat.device())));
      step = torch::stack(rows).view_as(step);
#else
      (void)info;
#endif
      out.levels[i] = quantize(clean.levels[i], step);
    }
#endif
    return out;
  }

 private:
  double sigma_q_;
  int64_t seed_;
  double eps_;
  plugins::Estimator est_{nullptr};
};

constexpr uint32_t kEval = FEATJND_STAGE_EVALUATE;
const featjnd_param_info kParams[] = {
    featjnd::param("sigma_q", "float", "0.1", "noise budget σ_q: mean_t(Δ_t²)/12 = σ_q²", kEval, 0, 1e6),
    featjnd::param("seed", "int", "0", "permutation seed (quant-random)", kEval, 0, 1e12),
    featjnd::param("eps", "float", "1e-8", "ε in τ_t = ‖J_t‖ / (‖F_t‖ + ε)", kEval, 0, 1),
};

}  // namespace

#if QUANT_GUIDE == QUANT_FEATJND
FEATJND_PLUGIN("distortion", "quant-featjnd", "1.0",
               "token-wise quantization, step per token from the FeatJND map (needs a fitted featjnd upstream)", kParams,
               TokenQuantization)
#elif QUANT_GUIDE == QUANT_RANDOM
FEATJND_PLUGIN("distortion", "quant-random", "1.0",
               "token-wise quantization, the FeatJND step values permuted over tokens (seeded)", kParams,
               TokenQuantization)
#else
FEATJND_PLUGIN("distortion", "quant-uniform", "1.0", "uniform quantization, one step sqrt(12)*sigma_q", kParams,
               TokenQuantization)
#endif
