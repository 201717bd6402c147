// Integrated Gradients with Captum's definitions (captum.attr.IntegratedGradients), so that
// attributions made here compare with what the field computes:
//   attr = (Σ_i w_i · ∇f(b + α_i (x − b))) ⊙ (x − b),   delta = Σ attr − (f(x) − f(b)),
// with the integration points α_i and weights w_i of Captum's approximation methods:
//   gausslegendre      α_i = ½(1 + t_i), w_i = ½ v_i for the n-point Legendre rule (t_i, v_i);
//   riemann_left       α_i = i/n,        riemann_right α_i = (i+1)/n,  riemann_middle (i+½)/n,
//                      w_i = 1/n;
//   riemann_trapezoid  α_i = linspace(0, 1, n), w_i = 1/n with both ends halved (Σ w = 1 − 1/n, as
//                      Captum does).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace featjnd::inspect {

struct IgOptions {
  int64_t n_steps = 50;
  std::string method = "gausslegendre";  // or riemann_left|right|middle|trapezoid
  int64_t internal_batch_size = 0;       // path points evaluated at once per image; 0: all
};

struct IgResult {
  torch::Tensor attributions;  // like x
  torch::Tensor delta;         // N: the convergence delta per example
};

// The integration points and weights of a method (Captum's approximation_parameters).
std::pair<std::vector<double>, std::vector<double>> ig_points(const std::string& method, int64_t n);

// `f` maps a batch of inputs to one differentiable scalar per example; `baseline` is broadcast to x.
IgResult integrated_gradients(const std::function<torch::Tensor(const torch::Tensor&)>& f, const torch::Tensor& x,
                              const torch::Tensor& baseline, const IgOptions& options);

}  // namespace featjnd::inspect
