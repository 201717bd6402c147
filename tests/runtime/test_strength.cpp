#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <zlib.h>

#include <torch/torch.h>

#include "inspect/inspect_stage.h"
#include "inspect/integrated_gradients.h"
#include "inspect/png.h"
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

// Integrated Gradients on a linear model f(x) = w·x: the gradient is w everywhere, so the
// attributions are (Σ_i w_i) w ⊙ (x − b). Gauss–Legendre weights sum to 1: complete (delta 0);
// Captum's trapezoid weights sum to 1 − 1/n: delta = −w·(x − b)/n.
TEST_CASE("Integrated Gradients: completeness on a linear model; Captum's trapezoid quirk") {
  auto w = torch::tensor({0.5, -2.0, 3.0, 1.0}, torch::kDouble).view({1, 4});
  auto f = [&](const torch::Tensor& x) { return (x * w).sum(1); };
  auto x = torch::tensor({1.0, 2.0, -1.0, 4.0}, torch::kDouble).view({1, 4});
  auto b = torch::zeros_like(x);
  const double wx = (w * x).sum().item<double>();
  auto gl = featjnd::inspect::integrated_gradients(f, x, b, {7, "gausslegendre", 0});
  CHECK(gl.delta.item<double>() == doctest::Approx(0.0).epsilon(1e-12));
  CHECK(torch::allclose(gl.attributions, w * x, 1e-12, 1e-12));
  auto trap = featjnd::inspect::integrated_gradients(f, x, b, {5, "riemann_trapezoid", 0});
  CHECK(trap.delta.item<double>() == doctest::Approx(-wx / 5).epsilon(1e-12));
  auto [alphas, weights] = featjnd::inspect::ig_points("gausslegendre", 3);
  // The 3-point rule: nodes 0, ±√(3/5), weights 8/9, 5/9 on [−1, 1].
  CHECK(alphas[0] == doctest::Approx(0.5 * (1 - std::sqrt(0.6))).epsilon(1e-14));
  CHECK(alphas[1] == doctest::Approx(0.5).epsilon(1e-14));
  CHECK(weights[1] == doctest::Approx(4.0 / 9).epsilon(1e-14));
  CHECK(weights[0] == doctest::Approx(5.0 / 18).epsilon(1e-14));
}

TEST_CASE("attribution map comparisons: Spearman with ties, top-k overlap") {
  // Ranks of (1, 2, 2, 4) are (0, 1.5, 1.5, 3); against (4, 3, 2, 1): ρ = −0.9487 (by hand).
  auto a = torch::tensor({1.0, 2.0, 2.0, 4.0}), b = torch::tensor({4.0, 3.0, 2.0, 1.0});
  CHECK(featjnd::inspect::spearman(a, b) == doctest::Approx(-0.948683).epsilon(1e-6));
  CHECK(featjnd::inspect::spearman(a, a) == doctest::Approx(1.0));
  // Top half of a: {3, 1 or 2}; of b: {0, 1}.
  auto c = torch::tensor({0.0, 5.0, 1.0, 9.0}), d = torch::tensor({9.0, 5.0, 1.0, 0.0});
  CHECK(featjnd::inspect::topk_overlap(c, d, 0.5) == doctest::Approx(0.5));
  CHECK(featjnd::inspect::topk_overlap(c, c, 0.25) == doctest::Approx(1.0));
}

TEST_CASE("PNG: the file holds the pixels written (inflated back with zlib)") {
  auto img = torch::arange(2 * 3 * 3, torch::kUInt8).view({2, 3, 3});
  const auto path = (std::filesystem::temp_directory_path() / ("featjnd-png-" + std::to_string(getpid()) + ".png")).string();
  featjnd::inspect::write_png(path, img);
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::filesystem::remove(path);
  REQUIRE(bytes.substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
  const auto idat = bytes.find("IDAT");
  REQUIRE(idat != std::string::npos);
  auto be32 = [&](size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
    return v;
  };
  CHECK(be32(16) == 3);  // width
  CHECK(be32(20) == 2);  // height
  const uint32_t n = be32(idat - 4);
  std::vector<unsigned char> raw(2 * (1 + 3 * 3));
  uLongf size = raw.size();
  REQUIRE(uncompress(raw.data(), &size, reinterpret_cast<const Bytef*>(bytes.data() + idat + 4), n) == Z_OK);
  CHECK(size == raw.size());
  CHECK(raw[0] == 0);    // filter type of row 0
  CHECK(raw[1 + 4] == 4);  // pixel (0, 1), green
  CHECK(raw[10 + 1 + 8] == 17);  // the last byte of row 1
}
