// FeatJND (PAPER.md): an estimator E predicts J = E(F), trained against the frozen task network
// on L = D(h(F), h(F + J)) − λ·m(J), and applied as F + α·J. Two controls tell whether the
// map adapts to its input: `mean` applies E's mean map over a calibration set (one J for every
// input), `shuffled` applies J with its channels permuted (seeded).
#include <fmt/format.h>
#include <torch/torch.h>

#include "featjnd/plugin.h"
#include "featjnd_plugins/estimator.h"

namespace {

using namespace featjnd;
namespace F = torch::nn::functional;

// The network stays as it is while E trains: eval mode, so that no BatchNorm statistics move, and
// no gradients for its weights (D is differentiated with respect to J only).
void freeze(Backbone& backbone, Task& task) {
  for (auto* m : {&backbone.module(), &task.head_module()}) {
    m->eval();
    for (auto& p : m->parameters()) p.set_requires_grad(false);
  }
}

// `level` resized to h×w (bilinear, as for a map of tolerances), or itself when it has that size.
torch::Tensor resized(const torch::Tensor& level, int64_t h, int64_t w) {
  if (level.size(2) == h && level.size(3) == w) return level;
  return F::interpolate(level, F::InterpolateFuncOptions()
                                   .size(std::vector<int64_t>{h, w})
                                   .mode(torch::kBilinear)
                                   .align_corners(false));
}

class FeatJND : public Distortion {
 public:
  explicit FeatJND(const Params& p) : p_(p), mode_(p.text("mode")), alpha_(p.real("alpha")) {}
  bool trainable() const override { return true; }

  void fit(Backbone& backbone, Task& task, RunContext& ctx) override {
    freeze(backbone, task);
    auto data = task.data(Split::train, ctx);
    const int64_t epochs = p_.integer("epochs"), limit = p_.integer("fit_samples");
    const int64_t per_epoch = limit > 0 ? std::min(limit, data->size()) : data->size();
    int64_t step = 0, done = 0;
    for (int64_t e = 0; e < epochs; ++e) {
      data->reset(ctx.seed() * 7919 + static_cast<uint64_t>(e));
      int64_t seen = 0;
      while (seen < per_epoch) {
        auto b = data->next();
        if (!b) break;
        train_step(backbone, task, *b, ctx, step++);
        seen += b->size();
        done += b->size();
        ctx.progress(done, per_epoch * epochs, "fitting");
      }
      log_epoch(ctx, e);
    }
    if (!est_) throw std::runtime_error("FeatJND: the training split is empty");
    est_->eval();
    plugins::save_estimator(est_, ctx);
    save_sample(backbone, task, ctx);
  }

  void begin_evaluation(Backbone& backbone, Task& task, RunContext& ctx) override {
    est_ = plugins::load_estimator(ctx, ctx.device());
    if (mode_ == "mean") {
      mean_map_ = calibration_mean(backbone, task, ctx);
    } else if (mode_ == "shuffled") {
      perm_ = torch::randperm(est_->config.channels, at::detail::createCPUGenerator(p_.integer("control_seed")),
                              torch::kLong)
                  .to(ctx.device());
    }
  }

  Features apply(const Features& f, const ApplyInfo&) override {
    Features j;
    if (mode_ == "mean") {
      for (size_t l = 0; l < f.levels.size(); ++l)
        j.levels.push_back(resized(mean_map_.at(l), f.levels[l].size(2), f.levels[l].size(3)));
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
  void make_estimator(const Features& f, torch::Device device) {
    plugins::EstimatorConfig c;
    c.channels = f.levels.at(0).size(1);
    c.levels = static_cast<int64_t>(f.levels.size());
    c.width = p_.integer("width");
    c.blocks = p_.integer("blocks");
    c.norm = p_.text("norm");
    c.clamp = p_.real("clamp");
    est_ = plugins::Estimator(c);
    est_->to(device);
    est_->train();
    opt_ = std::make_unique<torch::optim::Adam>(est_->parameters(), torch::optim::AdamOptions(p_.real("lr")));
  }

  // One Adam step on L = D − λ·m(J) (PAPER.md). The loss terms stay on the device; they are read
  // back every `log_every` steps only, so that a GPU is not synchronised at every step.
  void train_step(Backbone& backbone, Task& task, const Batch& b, RunContext& ctx, int64_t step) {
    Features f;
    TensorMap clean;
    {
      torch::NoGradGuard no_grad;
      f = backbone.features(b, ctx.device());
      clean = task.head(f);
    }
    if (!est_) make_estimator(f, ctx.device());
    auto j = est_->forward(f);
    Features g = f;
    for (size_t l = 0; l < g.levels.size(); ++l) g.levels[l] = f.levels[l] + j.levels[l];
    auto d = task.discrepancy(clean, task.head_distorted(g, clean));
    auto m = plugins::mean_abs(j, p_.text("m_weighting"));
    auto loss = d - p_.real("lambda") * m;
    opt_->zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(est_->parameters(), p_.real("clip_norm"));
    opt_->step();
    auto terms = torch::stack({loss.detach(), d.detach(), m.detach()});
    window_ = window_.defined() ? window_ + terms : terms;
    epoch_ = epoch_.defined() ? epoch_ + terms : terms;
    ++window_steps_, ++epoch_steps_;
    if (window_steps_ == p_.integer("log_every")) flush_window(ctx, step);
  }

  // What export-estimator checks its package against: the first two training images' features,
  // each level cropped to at most 32×32 (E is convolutional: a crop is an input like any other),
  // and their J.
  void save_sample(Backbone& backbone, Task& task, RunContext& ctx) {
    torch::NoGradGuard no_grad;
    auto data = task.data(Split::train, ctx);
    data->reset(0);
    auto b = data->next();
    if (!b) return;
    auto f = backbone.features(*b, ctx.device());
    Features s;
    s.names = f.names;
    for (const auto& l : f.levels)
      s.levels.push_back(l.slice(0, 0, std::min<int64_t>(2, l.size(0))).slice(2, 0, 32).slice(3, 0, 32).contiguous());
    plugins::save_estimator_sample(est_, s, ctx);
  }

  void flush_window(RunContext& ctx, int64_t step) {
    if (!window_steps_) return;
    auto v = (window_ / static_cast<double>(window_steps_)).cpu();
    ctx.log_metric("fit.loss", v[0].item<double>(), step);
    ctx.log_metric("fit.D", v[1].item<double>(), step);
    ctx.log_metric("fit.mean_abs_J", v[2].item<double>(), step);
    window_ = torch::Tensor();
    window_steps_ = 0;
  }

  void log_epoch(RunContext& ctx, int64_t epoch) {
    flush_window(ctx, epoch_steps_ ? epoch_steps_ - 1 : 0);
    if (!epoch_steps_) return;
    auto v = (epoch_ / static_cast<double>(epoch_steps_)).cpu();
    ctx.log_metric("fit.epoch_D", v[1].item<double>(), epoch);
    ctx.log_metric("fit.epoch_mean_abs_J", v[2].item<double>(), epoch);
    epoch_ = torch::Tensor();
    epoch_steps_ = 0;
  }

  // The mean map of `mode: mean` over a calibration set drawn from the training split (the
  // evaluation set stays unseen). Images of different sizes (COCO) give maps of different sizes:
  // each level's map is resized to the size that level has in the first batch before averaging,
  // and the mean is resized to each evaluated feature's size when applied.
  std::vector<torch::Tensor> calibration_mean(Backbone& backbone, Task& task, RunContext& ctx) {
    torch::NoGradGuard no_grad;
    auto data = task.data(Split::train, ctx);
    data->reset(12345);
    int64_t seen = 0;
    const int64_t limit = p_.integer("calibration_samples");
    std::vector<torch::Tensor> sums;
    while (seen < limit) {
      auto b = data->next();
      if (!b) break;
      auto j = est_->forward(backbone.features(*b, ctx.device()));
      if (sums.empty())
        for (auto& l : j.levels) sums.push_back(torch::zeros({1, l.size(1), l.size(2), l.size(3)}, l.options()));
      for (size_t l = 0; l < j.levels.size(); ++l)
        sums[l] += resized(j.levels[l], sums[l].size(2), sums[l].size(3)).sum(0, true);
      seen += b->size();
    }
    if (!seen) throw std::runtime_error("FeatJND: empty calibration set");
    for (auto& s : sums) s /= static_cast<double>(seen);
    return sums;
  }

  Params p_;
  std::string mode_;
  double alpha_;
  plugins::Estimator est_{nullptr};
  std::unique_ptr<torch::optim::Adam> opt_;
  torch::Tensor window_, epoch_;  // summed (loss, D, m) since the last log, and over the epoch
  int64_t window_steps_ = 0, epoch_steps_ = 0;
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
    featjnd::param("norm", "string", "\"group\"",
                   "normalisation in the estimator: group (GroupNorm; best AP at matched NRMSE on the scenes, "
                   "experiments/ablation_estimator_norm.json), batch (one BatchNorm per feature level), none",
                   kFit,
                   -HUGE_VAL, HUGE_VAL, "batch|group|none"),
    featjnd::param("m_weighting", "string", "\"elements\"",
                   "m(J) over feature levels: elements (every element alike) or levels (mean of per-level means)", kFit,
                   -HUGE_VAL, HUGE_VAL, "elements|levels"),
    featjnd::param("log_every", "int", "10", "fit.loss/D/mean_abs_J: the mean over this many steps", 0, 1, 1e6),
    featjnd::param("alpha", "float", "1.0", "α: the distortion applied is F + α·J", kEval, 0, 1e6),
    featjnd::param("mode", "string", "\"adaptive\"",
                   "adaptive: J = E(F); mean: E's mean map over a calibration set; shuffled: J with channels permuted",
                   kEval, -HUGE_VAL, HUGE_VAL, "adaptive|mean|shuffled"),
    featjnd::param("control_seed", "int", "0", "seed of the channel permutation (mode shuffled)", kEval, 0, 1e12),
    featjnd::param("calibration_samples", "int", "2048", "training samples averaged for mode mean", kEval, 1, 1e9),
};

}  // namespace

FEATJND_PLUGIN("distortion", "featjnd", "1.1", "FeatJND: learned just-noticeable feature distortion F + alpha*E(F)",
               kParams, FeatJND)
