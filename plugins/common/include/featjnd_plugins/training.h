// What the task plugins share when they train a network themselves (no checkpoint given) and when
// they compare outputs: one training loop with its learning-rate schedule, one temperature KL.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "featjnd/components.h"

namespace featjnd::plugins {

// Linear warm-up over `warmup` steps, then cosine decay from `peak` to zero at `total`.
double warmup_cosine_lr(double peak, int64_t step, int64_t total, int64_t warmup);

struct TrainSettings {
  int64_t epochs = 1;
  int64_t batch_size = 1;   // of the data source: the schedule's length is epochs · ⌈size / batch⌉
  double lr = 1e-3;
  int64_t warmup = 0;       // steps
  double clip_norm = 0;     // 0: no clipping
  int64_t log_every = 20;   // train.loss is the mean over this many steps, read back only then
  std::string note = "training";
};

// Epochs over `data` (reset with ctx.seed()·1000 + epoch), skipping batches of one (BatchNorm);
// `loss_of(batch, step)` returns the step's loss, the loop steps `opt` on it and logs train.loss
// (the mean of every `log_every` steps: the loss stays on the device in between, so a GPU is not
// synchronised at every step);
// `end_of_epoch(e)` runs after each epoch. The modules are in train mode throughout.
void train_loop(DataSource& data, RunContext& ctx, torch::optim::Optimizer& opt, const std::vector<torch::Tensor>& params,
                const TrainSettings& s, const std::function<torch::Tensor(const Batch&, int64_t)>& loss_of,
                const std::function<void(int64_t)>& end_of_epoch = {});

// PAPER.md's temperature-scaled KL, T²·KL(p_T(z) ‖ p_T(z′)): over the classes of dimension 1
// (softmax), averaged over the rows; and per element for sigmoid outputs (Bernoulli), averaged.
torch::Tensor softmax_kl(const torch::Tensor& clean, const torch::Tensor& distorted, double t);
torch::Tensor bernoulli_kl(const torch::Tensor& clean, const torch::Tensor& distorted, double t);

}  // namespace featjnd::plugins
