// Test-only trainable distortion: a per-channel tolerance J trained on L = D − λ·mean|J| against
// the frozen network, saved as an artifact and applied as F + α·J.
#include <torch/torch.h>

#include "execution_log.h"
#include "featjnd/plugin.h"

namespace {

class ToyFit : public featjnd::Distortion {
 public:
  explicit ToyFit(const featjnd::Params& p)
      : params_(p.json()), lambda_(p.real("lambda")), steps_(p.integer("steps")), alpha_(p.real("alpha")) {}
  bool trainable() const override { return true; }

  void fit(featjnd::Backbone& backbone, featjnd::Task& task, featjnd::RunContext& ctx) override {
    toy::log_execution("fit toy-fit", backbone.module(), task.head_module(), params_);
    auto data = task.data(featjnd::Split::train, ctx);
    torch::Tensor j;
    torch::optim::Adam* opt = nullptr;
    std::unique_ptr<torch::optim::Adam> holder;
    int64_t step = 0;
    while (step < steps_) {
      data->reset(ctx.seed() + static_cast<uint64_t>(step));
      while (auto b = data->next()) {
        if (step >= steps_) break;
        auto f = backbone.forward(b->images.to(ctx.device()));
        if (!j.defined()) {
          j = torch::zeros({1, f.levels[0].size(1), 1, 1}, torch::requires_grad());
          holder = std::make_unique<torch::optim::Adam>(std::vector<torch::Tensor>{j}, torch::optim::AdamOptions(0.05));
          opt = holder.get();
        }
        featjnd::Features g = f;
        for (auto& l : g.levels) l = l + j;
        auto loss = task.discrepancy(task.head(f), task.head(g)) - lambda_ * j.abs().mean();
        opt->zero_grad();
        loss.backward();
        opt->step();
        ctx.log_metric("fit.loss", loss.item<double>(), step++);
        ctx.progress(step, steps_, "fitting");
      }
    }
    auto path = ctx.artifact_path("toy-fit.pt");
    torch::save(j.detach(), path);
    ctx.add_artifact("toy-fit.pt", "estimator");
  }

  void begin_evaluation(featjnd::Backbone& backbone, featjnd::Task& task, featjnd::RunContext& ctx) override {
    toy::log_execution("evaluate toy-fit", backbone.module(), task.head_module(), params_);
    torch::load(j_, ctx.input_artifact("toy-fit.pt"));
  }
  featjnd::Features apply(const featjnd::Features& clean, const featjnd::ApplyInfo&) override {
    featjnd::Features out = clean;
    for (auto& l : out.levels) l = l + alpha_ * j_.to(l.device());
    return out;
  }

 private:
  nlohmann::json params_;
  double lambda_;
  int64_t steps_;
  double alpha_;
  torch::Tensor j_;
};

const featjnd_param_info kParams[] = {
    featjnd::param("lambda", "float", "0.1", "weight of the size term", FEATJND_STAGE_FIT, 0, 1e3),
    featjnd::param("steps", "int", "20", "optimisation steps", FEATJND_STAGE_FIT, 1, 1e6),
    featjnd::param("alpha", "float", "1.0", "scale applied at evaluation", FEATJND_STAGE_EVALUATE, 0, 1e3),
};

}  // namespace

FEATJND_PLUGIN("distortion", "toy-fit", "1.0", "test distortion trained against the task", kParams, ToyFit)
