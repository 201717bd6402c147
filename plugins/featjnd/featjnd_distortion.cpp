// FeatJND (PAPER.md): an estimator E predicts J = E(F), trained against the frozen task network
// on L = D(h(F), h(F + J)) − λ·mean|J|, and applied as F + α·J. Two controls tell whether the
// map adapts to its input: `mean` applies E's mean map over a calibration set (one J for every
// input), `shuffled` applies J with its channels permuted (seeded).
#include <fmt/format.h>
#include <torch/torch.h>

#include "featjnd/plugin.h"
#include "featjnd_plugins/estimator.h"

namespace {

using namespace featjnd;

class FeatJND : public Distortion {
 public:
  explicit FeatJND(const Params& p) : p_(p), mode_(p.text("mode")), alpha_(p.real("alpha")) {}
  bool trainable() const override { return true; }

  void fit(Backbone& backbone, Task& task, RunContext& ctx) override {
    auto data = task.data(Split::train, ctx);
    const int64_t epochs = p_.integer("epochs"), limit = p_.integer("fit_samples");
    const double lambda = p_.real("lambda"), clip = p_.real("clip_norm");
    plugins::Estimator est{nullptr};
    std::unique_ptr<torch::optim::Adam> opt;
    const int64_t per_epoch = limit > 0 ? std::min(limit, data->size()) : data->size();
    int64_t step = 0, done = 0;
    for (int64_t e = 0; e < epochs; ++e) {
      data->reset(ctx.seed() * 7919 + static_cast<uint64_t>(e));
      int64_t seen = 0;
      double sum_d = 0, sum_m = 0;
      int64_t batches = 0;
      while (seen < per_epoch) {
        auto b = data->next();
        if (!b) break;
        Features f;
        TensorMap clean;
        {
          torch::NoGradGuard no_grad;
          f = backbone.forward(b->images.to(ctx.device()));
          clean = task.head(f);
        }
        if (!est) {
          plugins::EstimatorConfig c;
          c.channels = f.levels.at(0).size(1);
          c.width = p_.integer("width");
          c.blocks = p_.integer("blocks");
          c.norm = p_.text("norm");
          c.clamp = p_.real("clamp");
          est = plugins::Estimator(c);
          est->to(ctx.device());
          est->train();
          opt = std::make_unique<torch::optim::Adam>(est->parameters(), torch::optim::AdamOptions(p_.real("lr")));
        }
        auto j = est->forward(f);
        Features g = f;
        for (size_t l = 0; l < g.levels.size(); ++l) g.levels[l] = f.levels[l] + j.levels[l];
        auto d = task.discrepancy(clean, task.head_distorted(g, clean));
        torch::Tensor m = torch::zeros({}, d.options());
        for (auto& l : j.levels) m = m + l.abs().mean();
        m = m / static_cast<double>(j.levels.size());
        auto loss = d - lambda * m;  // PAPER.md: L = D − λ·m(J)
        opt->zero_grad();
        loss.backward();
        torch::nn::utils::clip_grad_norm_(est->parameters(), clip);
        opt->step();
        ctx.log_metric("fit.loss", loss.item<double>(), step);
        ctx.log_metric("fit.D", d.item<double>(), step);
        ctx.log_metric("fit.mean_abs_J", m.item<double>(), step);
        sum_d += d.item<double>();
        sum_m += m.item<double>();
        ++batches;
        ++step;
        seen += b->size();
        done += b->size();
        ctx.progress(done, per_epoch * epochs, "fitting");
      }
      ctx.log_metric("fit.epoch_D", sum_d / double(std::max<int64_t>(batches, 1)), e);
      ctx.log_metric("fit.epoch_mean_abs_J", sum_m / double(std::max<int64_t>(batches, 1)), e);
    }
    if (!est) throw std::runtime_error("FeatJND: the training split is empty");
    est->eval();
    plugins::save_estimator(est, ctx);
  }

  void begin_evaluation(Backbone& backbone, Task& task, RunContext& ctx) override {
    est_ = plugins::load_estimator(ctx, ctx.device());
    if (mode_ == "mean") {
      // The calibration set is drawn from the training split: the evaluation set stays unseen.
      torch::NoGradGuard no_grad;
      auto data = task.data(Split::train, ctx);
      data->reset(12345);
      int64_t seen = 0, limit = p_.integer("calibration_samples");
      std::vector<torch::Tensor> sums;
      while (seen < limit) {
        auto b = data->next();
        if (!b) break;
        auto j = est_->forward(backbone.forward(b->images.to(ctx.device())));
        if (sums.empty()) sums.resize(j.levels.size());
        for (size_t l = 0; l < j.levels.size(); ++l) {
          auto s = j.levels[l].sum(0, true);
          sums[l] = sums[l].defined() ? sums[l] + s : s;
        }
        seen += b->size();
      }
      if (!seen) throw std::runtime_error("FeatJND: empty calibration set");
      for (auto& s : sums) mean_map_.push_back(s / static_cast<double>(seen));
    } else if (mode_ == "shuffled") {
      perm_ = torch::randperm(est_->config.channels, at::detail::createCPUGenerator(p_.integer("control_seed")),
                              torch::kLong)
                  .to(ctx.device());
    }
  }

  Features apply(const Features& f, const ApplyInfo&) override {
    Features j;
    if (mode_ == "mean") {
      j.levels = mean_map_;
    } else {
      j = est_->forward(f);
      if (mode_ == "shuffled")
        for (auto& l : j.levels) l = l.index_select(1, perm_);
    }
    Features out = f;
    for (size_t l = 0; l < out.levels.size(); ++l) out.levels[l] = f.levels[l] + alpha_ * j.levels[l];
    return out;
  }

 private:
  Params p_;
  std::string mode_;
  double alpha_;
  plugins::Estimator est_{nullptr};
  std::vector<torch::Tensor> mean_map_;
  torch::Tensor perm_;
};

constexpr uint32_t kFit = FEATJND_STAGE_FIT, kEval = FEATJND_STAGE_EVALUATE;
const featjnd_param_info kParams[] = {
    featjnd::param("lambda", "float", "1.0", "λ: weight of the perturbation size m(J) = mean|J|", kFit, 0, 1e6),
    featjnd::param("epochs", "int", "1", "training epochs over the task's training split", kFit, 1, 10000),
    featjnd::param("fit_samples", "int", "0", "samples per epoch (0: the whole split)", kFit, 0, 1e9),
    featjnd::param("lr", "float", "0.0001", "Adam learning rate (paper: 1e-4 classification, 2e-5 detection)", kFit, 0, 1),
    featjnd::param("clip_norm", "float", "1.0", "gradient-norm clipping", kFit, 1e-9, 1e9),
    featjnd::param("clamp", "float", "10.0", "c: J is clamped to [-c, c]", kFit, 1e-9, 1e9),
    featjnd::param("width", "int", "256", "W: channels inside the estimator", kFit, 1, 4096),
    featjnd::param("blocks", "int", "2", "residual blocks", kFit, 0, 64),
    featjnd::param("norm", "string", "\"batch\"", "normalisation in the estimator", kFit, -HUGE_VAL, HUGE_VAL,
                   "batch|group|none"),
    featjnd::param("alpha", "float", "1.0", "α: the distortion applied is F + α·J", kEval, 0, 1e6),
    featjnd::param("mode", "string", "\"adaptive\"",
                   "adaptive: J = E(F); mean: E's mean map over a calibration set; shuffled: J with channels permuted",
                   kEval, -HUGE_VAL, HUGE_VAL, "adaptive|mean|shuffled"),
    featjnd::param("control_seed", "int", "0", "seed of the channel permutation (mode shuffled)", kEval, 0, 1e12),
    featjnd::param("calibration_samples", "int", "2048", "training samples averaged for mode mean", kEval, 1, 1e9),
};

}  // namespace

FEATJND_PLUGIN("distortion", "featjnd", "1.0", "FeatJND: learned just-noticeable feature distortion F + alpha*E(F)",
               kParams, FeatJND)
