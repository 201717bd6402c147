// The paper's plugins, loaded from the build's plugin folder exactly as the engine loads them.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <torch/torch.h>

#include "featjnd/components.h"
#include "codec/bitstream.h"
#include "featjnd_plugins/estimator.h"
#include "inspect/integrated_gradients.h"
#include "featjnd_plugins/safetensors.h"
#include "plugin_host/plugin_registry.h"
#include "plugin_test_support.h"

namespace fs = std::filesystem;
using namespace featjnd;

using namespace featjnd::test;

namespace {

std::map<std::string, torch::Tensor> snapshot(torch::nn::Module& m) {
  std::map<std::string, torch::Tensor> s;
  for (auto& p : m.named_parameters()) s[p.key()] = p.value().clone();
  for (auto& b : m.named_buffers()) s[b.key()] = b.value().clone();
  return s;
}

bool same(const std::map<std::string, torch::Tensor>& a, const std::map<std::string, torch::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (auto& [k, v] : a)
    if (!torch::equal(v, b.at(k))) return false;
  return true;
}

const nlohmann::json kSmallResnet = {{"arch", "resnet18"}, {"width", 4}, {"stem", "small"}, {"in_channels", 1}};
const nlohmann::json kSmallTask = {{"train_samples", 256}, {"eval_samples", 128}, {"batch_size", 64}, {"epochs", 1}};

}  // namespace

TEST_CASE("the paper's plugins load") {
  REQUIRE(loaded_plugins().errors().empty());
  for (auto [kind, name] : {std::pair<const char*, const char*>{"backbone", "resnet"}, {"task", "classification"},
                            {"distortion", "featjnd"}, {"distortion", "gaussian"}, {"distortion", "quant-featjnd"},
                            {"distortion", "quant-random"}, {"distortion", "quant-uniform"}})
    CHECK_MESSAGE(loaded_plugins().find(kind, name), name);
}

TEST_CASE("resnet has torchvision's state-dict keys and shapes") {
  auto b = make<Backbone>("backbone", "resnet", {{"arch", "resnet50"}});
  auto params = b->module().named_parameters();
  CHECK(params.contains("conv1.weight"));
  CHECK(params["conv1.weight"].sizes() == torch::IntArrayRef({64, 3, 7, 7}));
  CHECK(params["layer1.0.conv3.weight"].sizes() == torch::IntArrayRef({256, 64, 1, 1}));
  CHECK(params["layer2.0.downsample.0.weight"].sizes() == torch::IntArrayRef({512, 256, 1, 1}));
  CHECK(params["layer4.2.bn3.bias"].sizes() == torch::IntArrayRef({2048}));
  CHECK(b->module().named_buffers().contains("layer3.5.bn2.num_batches_tracked"));
  // torchvision resnet50 without fc: 25,557,032 − 2048·1000 − 1000 parameters.
  int64_t n = 0;
  for (auto& p : b->module().parameters()) n += p.numel();
  CHECK(n == 25557032 - 2048 * 1000 - 1000);
  auto f = b->forward(torch::zeros({1, 3, 224, 224}));
  CHECK(f.levels.at(0).sizes() == torch::IntArrayRef({1, 2048, 7, 7}));

  auto r18 = make<Backbone>("backbone", "resnet", {{"arch", "resnet18"}});
  n = 0;
  for (auto& p : r18->module().parameters()) n += p.numel();
  CHECK(n == 11689512 - 512 * 1000 - 1000);
}

TEST_CASE("the layer3 split moves layer4 into the head") {
  auto b = make<Backbone>("backbone", "resnet", {{"arch", "resnet18"}, {"width", 8}, {"stem", "small"}, {"split", "layer3"}});
  b->module().eval();
  torch::NoGradGuard g;
  auto x = torch::randn({2, 3, 28, 28});
  auto f = b->forward(x);
  CHECK(f.levels.at(0).sizes() == torch::IntArrayRef({2, 32, 7, 7}));
  CHECK(b->tail(f).levels.at(0).sizes() == torch::IntArrayRef({2, 64, 4, 4}));
}

TEST_CASE("classification discrepancy is T²·KL, checked by hand") {
  auto t = make<Task>("task", "classification", {{"temperature", 2.0}});
  // z = (0, 0), z' = (2 ln 3, 0): with T = 2, p = (1/2, 1/2), q = (3/4, 1/4);
  // KL(p‖q) = ½ ln(2/3) + ½ ln 2 = ½ ln(4/3), times T² = 4.
  TensorMap clean{{"logits", torch::tensor({{0.0, 0.0}})}}, dist{{"logits", torch::tensor({{2 * std::log(3.0), 0.0}})}};
  CHECK(t->discrepancy(clean, dist).item<double>() == doctest::Approx(4 * 0.5 * std::log(4.0 / 3.0)).epsilon(1e-6));
  CHECK(t->discrepancy(clean, clean).item<double>() == doctest::Approx(0.0));
}

TEST_CASE("gaussian noise: same seed, same numbers; another seed, other numbers; σ as asked") {
  Features f;
  f.levels.push_back(torch::zeros({4, 8, 16, 16}));
  auto a = make<Distortion>("distortion", "gaussian", {{"sigma", 0.5}, {"seed", 1}});
  auto b = make<Distortion>("distortion", "gaussian", {{"sigma", 0.5}, {"seed", 1}});
  auto c = make<Distortion>("distortion", "gaussian", {{"sigma", 0.5}, {"seed", 2}});
  auto x = a->apply(f, {0, 0}).levels[0];
  CHECK(torch::equal(x, b->apply(f, {0, 0}).levels[0]));
  CHECK_FALSE(torch::equal(x, c->apply(f, {0, 0}).levels[0]));
  CHECK_FALSE(torch::equal(x, a->apply(f, {1, 0}).levels[0]));  // each batch its own draw
  CHECK(x.std().item<double>() == doctest::Approx(0.5).epsilon(0.02));
}

TEST_CASE("gaussian noise is drawn on the features' device, leaving the global generator alone") {
  Features f;
  f.levels.push_back(torch::zeros({2, 3, 5, 5}, torch::kFloat));
  auto a = make<Distortion>("distortion", "gaussian", {{"sigma", 2.0}, {"seed", 7}});
  torch::manual_seed(123);
  const auto before = torch::rand({4});
  torch::manual_seed(123);
  auto x = a->apply(f, {3, 0}).levels[0];
  // The device generator seeded as the plugin says it is: the same stream as a CPU generator
  // built from that seed (on a CPU device), scaled by σ.
  const uint64_t seed = uint64_t(7) * 0x9E3779B97F4A7C15ull + 3;
  auto expected = 2.0 * torch::randn({2, 3, 5, 5}, at::detail::createCPUGenerator(seed), torch::kFloat);
  CHECK(torch::equal(x, expected));
  CHECK(torch::equal(torch::rand({4}), before));  // the global stream was not consumed or reseeded
  // bf16 features (an autocast region) get bf16 noise of the same draw.
  Features h;
  h.levels.push_back(torch::zeros({2, 3, 5, 5}, torch::kBFloat16));
  auto y = a->apply(h, {3, 0}).levels[0];
  CHECK((y.scalar_type() == torch::kBFloat16));
  CHECK(torch::equal(y, expected.to(torch::kBFloat16)));
}

TEST_CASE("FeatJND: only the estimator trains; its map is clamped; quantization meets its budget") {
  TestContext ctx;
  auto backbone = make<Backbone>("backbone", "resnet", kSmallResnet);
  auto task = make<Task>("task", "classification", kSmallTask);
  task->attach(*backbone, ctx);
  task->prepare(*backbone, ctx);
  // Hand the network over as training left it (train mode, weights requiring gradients): fit must
  // freeze it itself — no weight, no BatchNorm statistic may move.
  for (auto* m : {&backbone->module(), &task->head_module()}) {
    m->train();
    for (auto& p : m->parameters()) p.set_requires_grad(true);
  }
  auto before_b = snapshot(backbone->module()), before_h = snapshot(task->head_module());

  const double clamp = 0.05;
  auto fj = make<Distortion>("distortion", "featjnd",
                             {{"width", 8}, {"blocks", 1}, {"fit_samples", 128}, {"lr", 0.01}, {"clamp", clamp},
                              {"lambda", 10.0}, {"log_every", 1}});
  fj->fit(*backbone, *task, ctx);
  CHECK(same(before_b, snapshot(backbone->module())));
  CHECK(same(before_h, snapshot(task->head_module())));
  CHECK(ctx.artifacts.count("featjnd-estimator.safetensors") == 1);
  CHECK(ctx.metrics["fit.loss"].size() == 2);

  // Evaluate with α = 1: the added map never exceeds c.
  auto eval = make<Distortion>("distortion", "featjnd", {{"alpha", 1.0}});
  eval->begin_evaluation(*backbone, *task, ctx);
  torch::NoGradGuard g;
  auto data = task->data(Split::eval, ctx);
  data->reset(0);
  auto f = backbone->forward(data->next()->images);
  auto j = eval->apply(f, {0, 0}).levels[0] - f.levels[0];
  CHECK(j.abs().max().item<double>() <= clamp + 1e-6);
  CHECK(j.abs().max().item<double>() > 0);

  // Quantization budget on a smooth input much larger than the steps: MSE ≈ σ_q².
  const double sigma_q = 0.01;
  Features smooth;
  auto grid = torch::linspace(0, 1, 7).view({1, 1, 1, 7}) + torch::linspace(0, 1, 7).view({1, 1, 7, 1});
  smooth.levels.push_back((3.0 + torch::sin(torch::arange(f.levels[0].size(1)).view({1, -1, 1, 1}) + 5 * grid))
                              .expand({f.levels[0].size(0), -1, 7, 7})
                              .contiguous());
  for (auto name : {"quant-uniform", "quant-featjnd", "quant-random"}) {
    auto q = make<Distortion>("distortion", name, {{"sigma_q", sigma_q}, {"seed", 1}});
    q->begin_evaluation(*backbone, *task, ctx);
    auto out = q->apply(smooth, {0, 0}).levels[0];
    double mse = (out - smooth.levels[0]).pow(2).mean().item<double>();
    CHECK_MESSAGE(mse == doctest::Approx(sigma_q * sigma_q).epsilon(0.05), name);
  }

  // Codec mode on real features: every quantizer codes the batch to a bitstream, and what the task
  // sees is the decoded batch, equal bit for bit to the quantizer's own output (checked inside
  // apply: a difference throws). The first batch's bitstream is an artifact that decodes.
  for (auto name : {"quant-featjnd", "quant-random", "quant-uniform", "quant-minmax"}) {
    CAPTURE(name);
    auto q = make<Distortion>("distortion", name,
                              std::string(name) == "quant-minmax" ? nlohmann::json{{"codec", true}, {"bits", 6}}
                                                                   : nlohmann::json{{"codec", true}, {"sigma_q", 0.05}});
    q->begin_evaluation(*backbone, *task, ctx);
    ctx.artifacts.erase("bitstream-batch0.fjnc");
    Features coded;
    REQUIRE_NOTHROW(coded = q->apply(f, {0, 0, double(f.batch_size()) * 28 * 28}));
    CHECK(coded.levels[0].sizes() == f.levels[0].sizes());
    CHECK(!torch::equal(coded.levels[0], f.levels[0]));
    auto m = q->evaluation_metrics();
    CHECK(m.at("codec.bytes") > 0);
    CHECK(m.at("codec.bpp") == doctest::Approx(8 * m.at("codec.bytes") / (double(f.batch_size()) * 28 * 28)));
    CHECK(m.at("codec.bits_per_element") == doctest::Approx(8 * m.at("codec.bytes") / double(f.levels[0].numel())));
    REQUIRE(ctx.artifacts.count("bitstream-batch0.fjnc"));
    std::ifstream in(ctx.artifacts.at("bitstream-batch0.fjnc"), std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(double(bytes.size()) == m.at("codec.bytes"));
    auto stream = codec::decode(bytes.data(), bytes.size());
    CHECK(stream.symbols.at(0).size() == size_t(f.levels[0].numel()));
  }

  // Codec mode quantizes in one pass on the CPU (feature_codec.h); with one step for every token
  // its output is torch's Δ·round(F/Δ), which quant-uniform computes outside codec mode, element
  // for element, and it counts the same zeros and error. Real features, with values that are
  // halfway between two steps (ties round to even, as torch.round) and far beyond int32 steps.
  {
    Features g = f;
    g.levels[0] = f.levels[0].clone();
    auto flat = g.levels[0].view({-1});
    const double step = std::sqrt(12.0) * 0.05;
    for (int64_t k = 0; k < 8; ++k) flat[k] = (k - 3.5) * step;  // ±0.5, ±1.5, … steps
    flat[8] = 1e12, flat[9] = -1e12;
    auto plain = make<Distortion>("distortion", "quant-uniform", {{"sigma_q", 0.05}});
    auto coded = make<Distortion>("distortion", "quant-uniform", {{"sigma_q", 0.05}, {"codec", true}});
    for (auto* q : {&plain, &coded}) (*q)->begin_evaluation(*backbone, *task, ctx);
    auto a = plain->apply(g, {0, 0, 1.0}).levels[0], b = coded->apply(g, {0, 0, 1.0}).levels[0];
    auto inside = torch::ones_like(a, torch::kBool).view({-1});
    inside.slice(0, 8, 10).fill_(false);  // beyond int32 steps a bitstream clamps
    CHECK(torch::equal(a.view({-1}).masked_select(inside), b.view({-1}).masked_select(inside)));
    CHECK(torch::equal(a.view({-1}).slice(0, 0, 8), torch::round(flat.slice(0, 0, 8) / step) * step));
    auto ma = plain->evaluation_metrics(), mb = coded->evaluation_metrics();
    CHECK(ma.at("quant.zero_share") == mb.at("quant.zero_share"));
    CHECK(mb.at("quant.rmse") > 0);
  }

  // A coarser step map: one step per 2 × 2 tokens, on a half-octave grid. It meets the budget as
  // the per-token map does, the bitstream carries one log-step per block on multiples of 4 eighths,
  // the decoder's block steps spread over the tokens reproduce the quantizer's output bit for bit
  // (apply throws otherwise), and the side information shrinks.
  for (auto name : {"quant-featjnd", "quant-random"}) {
    CAPTURE(name);
    auto blocked = make<Distortion>("distortion", name,
                                    {{"sigma_q", sigma_q}, {"seed", 1}, {"step_block", 2}, {"steps_per_octave", 2}});
    blocked->begin_evaluation(*backbone, *task, ctx);
    auto out = blocked->apply(smooth, {0, 0}).levels[0];
    CHECK((out - smooth.levels[0]).pow(2).mean().item<double>() == doctest::Approx(sigma_q * sigma_q).epsilon(0.05));
    double side[2];
    for (int64_t block : {1, 2}) {
      auto q = make<Distortion>("distortion", name,
                                {{"codec", true}, {"sigma_q", 0.05}, {"step_block", block}, {"steps_per_octave", 2}});
      q->begin_evaluation(*backbone, *task, ctx);
      ctx.artifacts.erase("bitstream-batch0.fjnc");
      REQUIRE_NOTHROW(q->apply(f, {0, 0, double(f.batch_size()) * 28 * 28}));
      auto m = q->evaluation_metrics();
      side[block - 1] = m.at("codec.side_share") * m.at("codec.bytes");
      std::ifstream in(ctx.artifacts.at("bitstream-batch0.fjnc"), std::ios::binary);
      std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      auto stream = codec::decode(bytes.data(), bytes.size());
      CHECK(int(stream.step_block) == block);
      CHECK(int(stream.step_stride) == 4);
      const auto& sh = stream.shapes.at(0);
      REQUIRE(stream.log_steps.at(0).size() == sh.blocks(uint32_t(block)));
      for (int32_t v : stream.log_steps[0]) CHECK(v % 4 == 0);
    }
    MESSAGE(std::string(name) << ": side information " << side[0] << " bytes per token, " << side[1] << " per 2 x 2 block");
    CHECK(side[1] < side[0]);
  }
}

TEST_CASE("resnet exposes its four stage outputs") {
  auto b = make<Backbone>("backbone", "resnet", {{"arch", "resnet18"}});
  b->module().eval();
  torch::NoGradGuard g;
  auto s = b->forward_stages(torch::zeros({1, 3, 224, 224}));
  REQUIRE(s.levels.size() == 4);
  CHECK(s.levels[0].sizes() == torch::IntArrayRef({1, 64, 56, 56}));
  CHECK(s.levels[3].sizes() == torch::IntArrayRef({1, 512, 7, 7}));
}

// FPN levels differ in scale. The J evaluated (running statistics) must be the J fit optimised
// (each level's batch statistics): one BatchNorm per level makes them agree; one shared by the
// levels, as the estimator once had, mixes the levels' statistics and does not.
TEST_CASE("FeatJND estimator: on several feature levels, evaluation gives the J that training optimised") {
  torch::manual_seed(0);
  Features f;
  f.levels = {torch::randn({8, 4, 8, 8}), 5.0 + 20.0 * torch::randn({8, 4, 4, 4})};
  std::vector<torch::Tensor> target = {torch::randn({8, 4, 8, 8}), torch::randn({8, 4, 4, 4})};
  auto train_then_compare = [&](int64_t levels) {
    plugins::EstimatorConfig c;
    c.channels = 4, c.width = 8, c.blocks = 1, c.norm = "batch", c.clamp = 100, c.levels = levels;
    torch::manual_seed(1);
    plugins::Estimator e(c);
    torch::optim::Adam opt(e->parameters(), torch::optim::AdamOptions(1e-3));
    e->train();
    for (int step = 0; step < 300; ++step) {  // a fixed batch, the rate decaying to 0: statistics settle
      for (auto& group : opt.param_groups()) group.options().set_lr(1e-3 * (1.0 - step / 300.0));
      Features j;
      for (size_t l = 0; l < f.levels.size(); ++l) j.levels.push_back(e->forward(f.levels[l], levels > 1 ? l : 0));
      auto loss = (j.levels[0] - target[0]).pow(2).mean() + (j.levels[1] - target[1]).pow(2).mean();
      opt.zero_grad();
      loss.backward();
      opt.step();
    }
    torch::NoGradGuard g;
    Features trained, evaluated;
    for (size_t l = 0; l < f.levels.size(); ++l) trained.levels.push_back(e->forward(f.levels[l], levels > 1 ? l : 0));
    e->eval();
    for (size_t l = 0; l < f.levels.size(); ++l) evaluated.levels.push_back(e->forward(f.levels[l], levels > 1 ? l : 0));
    double worst = 0;
    for (size_t l = 0; l < f.levels.size(); ++l) worst = std::max(worst, test::rel_diff(evaluated.levels[l], trained.levels[l]));
    return worst;
  };
  // Left over: BatchNorm's running variance is unbiased (n/(n−1), n = 128 here), its batch variance not.
  CHECK(train_then_compare(2) < 0.03);  // per-level statistics
  CHECK(train_then_compare(1) > 0.3);   // shared statistics: the bug this guards against
}

TEST_CASE("m(J) over levels: element-weighted by default, or the mean of level means") {
  Features j;
  j.levels = {torch::full({1, 1, 4, 4}, 1.0), torch::full({1, 1, 1, 1}, 3.0)};
  CHECK(plugins::mean_abs(j, "elements").item<double>() == doctest::Approx((16 * 1.0 + 3.0) / 17));
  CHECK(plugins::mean_abs(j, "levels").item<double>() == doctest::Approx(2.0));
}

