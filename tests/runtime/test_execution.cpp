// The worker's execution options (worker/execution.h) on the CPU: autocast to bf16 and back,
// channels_last weights, what the feature cache counts, and batches moved as the worker moves them.
#include <doctest/doctest.h>

#include <torch/torch.h>

#include "worker/execution.h"

using namespace featjnd;

TEST_CASE("autocast: bf16 matmuls inside the guard, float32 after, the previous state restored") {
  auto a = torch::randn({8, 16}), b = torch::randn({16, 4});
  const auto exact = torch::mm(a, b);
  {
    AutocastGuard off(torch::kCPU, false);
    CHECK((torch::mm(a, b).scalar_type() == torch::kFloat));
  }
  torch::Tensor reduced;
  {
    AutocastGuard on(torch::kCPU, true);
    reduced = torch::mm(a, b);
    CHECK((reduced.scalar_type() == torch::kBFloat16));
  }
  CHECK((torch::mm(a, b).scalar_type() == torch::kFloat));
  // Within bf16's precision: inputs rounded to 8 significant bits, accumulated in float32.
  auto err = (reduced.to(torch::kFloat) - exact).abs().max().item<double>();
  CHECK(err > 0);
  CHECK(err <= 0.05 * exact.abs().max().item<double>());
}

TEST_CASE("float32: bf16 and fp16 leave in float32; float64 and integers are left as they are") {
  Features f({torch::ones({2, 3}, torch::kBFloat16), torch::ones({2}, torch::kDouble)}, {"a", "b"});
  auto g = float32(f);
  CHECK((g.levels[0].scalar_type() == torch::kFloat));
  CHECK((g.levels[1].scalar_type() == torch::kDouble));
  TensorMap m{{"x", torch::ones({3}, torch::kHalf)}, {"n", torch::ones({3}, torch::kLong)}};
  auto n = float32(m);
  CHECK((n.at("x").scalar_type() == torch::kFloat));
  CHECK((n.at("n").scalar_type() == torch::kLong));
}

TEST_CASE("channels_last: 4-D weights change layout, not values; others are untouched") {
  torch::nn::Sequential net(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3)), torch::nn::Flatten(),
                            torch::nn::Linear(8 * 4 * 4, 2));
  auto x = torch::randn({2, 3, 6, 6});
  const auto before = net->forward(x);
  to_channels_last(*net);
  for (auto& p : net->parameters())
    if (p.dim() == 4) CHECK(p.is_contiguous(torch::MemoryFormat::ChannelsLast));
  CHECK_FALSE(net->parameters()[0].is_contiguous());  // the conv weight really moved
  auto after = net->forward(x.contiguous(torch::MemoryFormat::ChannelsLast));
  CHECK(torch::allclose(before, after, 1e-5, 1e-6));
}

TEST_CASE("the cache counts images, targets and instances; batches go to the device without instances") {
  Batch b;
  b.images = torch::zeros({2, 3, 4, 4});                   // 96 floats
  b.targets["labels"] = torch::zeros({2}, torch::kLong);   // 16 bytes
  b.instances.push_back({{"boxes", torch::zeros({5, 4})}});  // 80 bytes
  CHECK(batch_bytes(b) == 96 * 4 + 16 + 80);
  Features f({torch::zeros({2, 8, 2, 2}), torch::zeros({2, 4, 1, 1}, torch::kBFloat16)}, {"0", "1"});
  CHECK(features_bytes(f) == 64 * 4 + 8 * 2);
  auto host = host_copy(b, torch::kCPU);  // a CPU device: nothing to pin
  CHECK(host.images.device().is_cpu());
  CHECK_FALSE(host.images.is_pinned());
  CHECK(host.instances.size() == 1);
  auto moved = batch_to(b, torch::kCPU);
  CHECK(moved.images.data_ptr() == b.images.data_ptr());  // CPU to CPU: no copy
  CHECK(moved.instances.at(0).at("boxes").data_ptr() == b.instances.at(0).at("boxes").data_ptr());
}
