#include "inspect/integrated_gradients.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace featjnd::inspect {
namespace {

// The n-point Gauss–Legendre rule on [−1, 1], nodes ascending (numpy's leggauss): Newton's method
// on P_n from the Chebyshev-like first guesses, weights 2 / ((1 − t²) P'_n(t)²).
std::pair<std::vector<double>, std::vector<double>> legendre(int64_t n) {
  std::vector<double> t(static_cast<size_t>(n)), v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    double x = std::cos(M_PI * (double(i) + 0.75) / (double(n) + 0.5)), dp = 0;
    for (int iter = 0; iter < 100; ++iter) {
      double p0 = 1, p1 = x;  // P_0, P_1, then the recurrence up to P_n
      for (int64_t k = 2; k <= n; ++k) {
        const double p2 = ((2.0 * double(k) - 1) * x * p1 - (double(k) - 1) * p0) / double(k);
        p0 = p1, p1 = p2;
      }
      dp = double(n) * (x * p1 - p0) / (x * x - 1);
      const double step = p1 / dp;
      x -= step;
      if (std::abs(step) < 1e-16) break;
    }
    t[static_cast<size_t>(n - 1 - i)] = x;
    v[static_cast<size_t>(n - 1 - i)] = 2.0 / ((1 - x * x) * dp * dp);
  }
  return {t, v};
}

}  // namespace

std::pair<std::vector<double>, std::vector<double>> ig_points(const std::string& method, int64_t n) {
  if (n < 1) throw std::invalid_argument("integrated gradients: n_steps must be at least 1");
  if (n < 2 && method != "gausslegendre")
    throw std::invalid_argument("integrated gradients: the Riemann rules need at least 2 steps (as Captum's)");
  std::vector<double> alphas(static_cast<size_t>(n)), weights(static_cast<size_t>(n), 1.0 / double(n));
  if (method == "gausslegendre") {
    auto [t, v] = legendre(n);
    for (size_t i = 0; i < t.size(); ++i) alphas[i] = 0.5 * (1 + t[i]), weights[i] = 0.5 * v[i];
    return {alphas, weights};
  }
  for (int64_t i = 0; i < n; ++i) {
    const auto k = static_cast<size_t>(i);
    if (method == "riemann_left") alphas[k] = double(i) / double(n);
    else if (method == "riemann_right") alphas[k] = double(i + 1) / double(n);
    else if (method == "riemann_middle") alphas[k] = (double(i) + 0.5) / double(n);
    else if (method == "riemann_trapezoid") alphas[k] = n > 1 ? double(i) / double(n - 1) : 0.0;
    else
      throw std::invalid_argument("integrated gradients: method '" + method +
                                  "'; expected gausslegendre, riemann_left, riemann_right, riemann_middle or "
                                  "riemann_trapezoid");
  }
  if (method == "riemann_trapezoid") weights.front() /= 2, weights.back() /= 2;
  return {alphas, weights};
}

IgResult integrated_gradients(const std::function<torch::Tensor(const torch::Tensor&)>& f, const torch::Tensor& x,
                              const torch::Tensor& baseline, const IgOptions& o) {
  const auto [alphas, weights] = ig_points(o.method, o.n_steps);
  const int64_t N = x.size(0), n = static_cast<int64_t>(alphas.size());
  auto base = baseline.expand_as(x).detach();
  auto diff = (x.detach() - base);
  // Captum's internal_batch_size counts examples: path points × images per forward pass.
  const int64_t chunk = o.internal_batch_size > 0 ? std::max<int64_t>(1, o.internal_batch_size / N) : n;
  auto total = torch::zeros_like(x);
  for (int64_t s = 0; s < n; s += chunk) {
    const int64_t k = std::min(chunk, n - s);
    std::vector<torch::Tensor> points;
    for (int64_t i = s; i < s + k; ++i) points.push_back(base + alphas[static_cast<size_t>(i)] * diff);
    auto input = torch::cat(points).detach().requires_grad_(true);
    auto out = f(input);
    auto grad = torch::autograd::grad({out.sum()}, {input})[0].detach();
    for (int64_t i = 0; i < k; ++i) total += weights[static_cast<size_t>(s + i)] * grad.slice(0, i * N, (i + 1) * N);
  }
  IgResult r;
  r.attributions = total * diff;
  torch::NoGradGuard no_grad;
  r.delta = r.attributions.flatten(1).sum(1) - (f(x.detach()) - f(base));
  return r;
}

}  // namespace featjnd::inspect
