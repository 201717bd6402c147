#include <doctest/doctest.h>

#include <cmath>

#include <torch/torch.h>

#include "worker/stage_runner.h"

using featjnd::Features;

TEST_CASE("NRMSE (paper eq. 18) and cosine similarity on a hand-computed case") {
  // F = (3, 4): ‖F‖ = 5. F' = F + (0, 5): ‖F' − F‖ = 5, so NRMSE = 1.
  // cos(F, F') = (3·3 + 4·9) / (5 · √90) = 45 / (5√90).
  Features clean, dist;
  clean.levels.push_back(torch::tensor({3.0f, 4.0f}).reshape({1, 2, 1, 1}));
  dist.levels.push_back(torch::tensor({3.0f, 9.0f}).reshape({1, 2, 1, 1}));
  auto [nrmse, cosine] = featjnd::distortion_strength(clean, dist);
  CHECK(nrmse.item<double>() == doctest::Approx(1.0).epsilon(1e-12));
  CHECK(cosine.item<double>() == doctest::Approx(45.0 / (5.0 * std::sqrt(90.0))).epsilon(1e-12));
}

TEST_CASE("strength is per sample, and averaged over levels") {
  Features clean, dist;
  // Sample 0 unchanged, sample 1 doubled (NRMSE 1, cosine 1), on two levels; level 1 of sample 1 is
  // negated instead (NRMSE 2, cosine −1).
  auto f0 = torch::tensor({1.0f, 2.0f, 3.0f, 4.0f}).reshape({2, 2, 1, 1});
  auto g0 = f0.clone();
  g0[1] *= 2;
  auto f1 = torch::ones({2, 1, 2, 2});
  auto g1 = f1.clone();
  g1[1] *= -1;
  clean.levels = {f0, f1};
  dist.levels = {g0, g1};
  auto [nrmse, cosine] = featjnd::distortion_strength(clean, dist);
  REQUIRE(nrmse.size(0) == 2);
  CHECK(nrmse[0].item<double>() == doctest::Approx(0.0));
  CHECK(nrmse[1].item<double>() == doctest::Approx((1.0 + 2.0) / 2));
  CHECK(cosine[0].item<double>() == doctest::Approx(1.0));
  CHECK(cosine[1].item<double>() == doctest::Approx((1.0 - 1.0) / 2));
}

TEST_CASE("a distortion that changes a shape is an error") {
  Features clean, dist;
  clean.levels.push_back(torch::zeros({1, 2, 3, 3}));
  dist.levels.push_back(torch::zeros({1, 2, 3, 4}));
  CHECK_THROWS(featjnd::distortion_strength(clean, dist));
}
