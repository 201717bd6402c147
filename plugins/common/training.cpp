#include "featjnd_plugins/training.h"

#include <cmath>

#include <fmt/format.h>

namespace featjnd::plugins {

double warmup_cosine_lr(double peak, int64_t step, int64_t total, int64_t warmup) {
  if (step < warmup) return peak * double(step + 1) / double(warmup);
  const double span = double(std::max<int64_t>(1, total - warmup));
  return 0.5 * peak * (1.0 + std::cos(M_PI * double(step - warmup) / span));
}

void train_loop(DataSource& data, RunContext& ctx, torch::optim::Optimizer& opt, const std::vector<torch::Tensor>& params,
                const TrainSettings& s, const std::function<torch::Tensor(const Batch&, int64_t)>& loss_of,
                const std::function<void(int64_t)>& end_of_epoch) {
  const int64_t per_epoch = (data.size() + s.batch_size - 1) / std::max<int64_t>(1, s.batch_size);
  const int64_t total = std::max<int64_t>(1, s.epochs * per_epoch);
  int64_t step = 0, window_steps = 0;
  torch::Tensor window;  // the sum of the losses since the last read-back, on the device
  double last = std::nan("");
  auto read_back = [&] {
    if (!window_steps) return;
    last = window.item<double>() / double(window_steps);
    ctx.log_metric("train.loss", last, step - 1);
    window = torch::Tensor();
    window_steps = 0;
  };
  for (int64_t e = 0; e < s.epochs; ++e) {
    data.reset(ctx.seed() * 1000 + static_cast<uint64_t>(e));
    while (auto b = data.next()) {
      if (b->size() < 2) continue;  // BatchNorm cannot train on one sample at 1×1 resolution
      for (auto& g : opt.param_groups()) g.options().set_lr(warmup_cosine_lr(s.lr, step, total, s.warmup));
      auto loss = loss_of(*b, step);
      opt.zero_grad();
      loss.backward();
      if (s.clip_norm > 0) torch::nn::utils::clip_grad_norm_(params, s.clip_norm);
      opt.step();
      window = window.defined() ? window + loss.detach() : loss.detach().clone();
      ++step;
      if (++window_steps == std::max<int64_t>(1, s.log_every)) read_back();
      ctx.progress(step, total, std::isnan(last) ? s.note : fmt::format("{}, loss {:.3f}", s.note, last));
    }
    read_back();
    if (end_of_epoch) end_of_epoch(e);
  }
}

torch::Tensor softmax_kl(const torch::Tensor& clean, const torch::Tensor& distorted, double t) {
  auto lp = torch::log_softmax(clean / t, 1), lq = torch::log_softmax(distorted / t, 1);
  return t * t * (lp.exp() * (lp - lq)).sum(1).mean();
}

torch::Tensor bernoulli_kl(const torch::Tensor& clean, const torch::Tensor& distorted, double t) {
  auto lp = torch::log_sigmoid(clean / t), lq = torch::log_sigmoid(distorted / t);
  auto lp0 = torch::log_sigmoid(-clean / t), lq0 = torch::log_sigmoid(-distorted / t);
  return t * t * (lp.exp() * (lp - lq) + lp0.exp() * (lp0 - lq0)).mean();
}

}  // namespace featjnd::plugins
