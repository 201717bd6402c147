// The paper's plugins against the libraries users trust, at full size: torchvision (ResNet-18/50,
// Swin-T/S/B, maskrcnn_resnet50_fpn at 800x1216, RoIAlign), timm (PVTv2-b1/b2/b3) and Captum
// (Integrated Gradients). tools/make_parity_fixtures.py writes the weights (random, seeded,
// perturbed) and the libraries' outputs; tests/integration/test_parity.sh runs these cases after
// it. Every comparison prints "parity <case> <tensor>: <relative difference>", from which the test
// reports the worst. FEATJND_PARITY_DEVICE=cuda:0 runs the same cases on a GPU (tools/gpu_check.sh),
// TF32 off, against the same CPU references, within 1e-4 instead of 1e-5.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <fstream>
#include <string>

#include <fmt/format.h>
#include <torch/torch.h>

#include "featjnd/components.h"
#include "featjnd_plugins/jpeg.h"
#include "featjnd_plugins/preprocess.h"
#include "featjnd_plugins/safetensors.h"
#include "inspect/integrated_gradients.h"
#include "mask_rcnn.h"
#include "plugin_test_support.h"

using namespace featjnd;
namespace det = featjnd::detection;

namespace {

std::string dir() { return test::parity_dir(); }

torch::Device device() {
  static const torch::Device d = [] {
    const char* env = std::getenv("FEATJND_PARITY_DEVICE");
    torch::Device dev(env && *env ? env : "cpu");
    if (dev.is_cuda()) {  // float32 arithmetic, as on the CPU
      at::globalContext().setAllowTF32CuBLAS(false);
      at::globalContext().setAllowTF32CuDNN(false);
    }
    return dev;
  }();
  return d;
}

// max |ours − theirs| / max |theirs|: algorithms differ on a GPU.
double tolerance() { return device().is_cpu() ? 1e-5 : 1e-4; }

plugins::SafeTensors read(const std::string& name) { return plugins::SafeTensors::read(dir() + "/" + name); }

// One comparison: max |ours − theirs| / scale (default: max |theirs|), printed for the report and
// checked against `limit` (default: the device's tolerance).
void compare(const std::string& what, const std::string& tensor, const torch::Tensor& ours, const torch::Tensor& theirs,
             double scale = 0, double limit = 0) {
  CAPTURE(what);
  CAPTURE(tensor);
  REQUIRE(ours.sizes() == theirs.sizes());
  if (scale == 0) scale = theirs.abs().max().item<double>();
  REQUIRE(scale > 0);
  const double d = (ours.cpu().to(torch::kDouble) - theirs.to(torch::kDouble)).abs().max().item<double>() / scale;
  std::printf("parity %s %s: %.3e\n", what.c_str(), tensor.c_str(), d);
  CHECK(d < (limit > 0 ? limit : tolerance()));
}

// Loads a checkpoint into a backbone strictly: every key the module has, none it lacks, except
// the prefixes a task owns.
void load_strict(Backbone& b, const plugins::SafeTensors& file, const std::vector<std::string>& task_prefixes) {
  auto report = plugins::load_state_dict(b.module(), file, "", true, task_prefixes);
  CHECK(report.missing.empty());
  CHECK(report.unexpected.empty());
  b.module().eval();
  b.module().to(device());
}

torch::Tensor input(const plugins::SafeTensors& ref) { return ref.get("input").to(device()); }

torch::Tensor linear_head(const plugins::SafeTensors& file, const std::string& prefix, const torch::Tensor& pooled) {
  const auto w = file.get(prefix + "weight");
  torch::nn::Linear fc(w.size(1), w.size(0));
  plugins::load_state_dict(*fc, file, prefix, true);
  fc->to(device());
  return fc(pooled);
}

}  // namespace

TEST_CASE("resnet18/50 match torchvision at 224: every stage, both splits, logits" * doctest::test_suite("parity")) {
  torch::NoGradGuard g;
  for (std::string arch : {"resnet18", "resnet50"}) {
    auto file = read(arch + ".safetensors");
    auto ref = read(arch + "_reference.safetensors");
    for (std::string split : {"layer4", "layer3"}) {
      auto b = test::make<Backbone>("backbone", "resnet", {{"arch", arch}, {"split", split}});
      load_strict(*b, file, {"fc."});
      auto f = b->forward(input(ref));
      compare(arch + "/" + split, split, f.levels[0], ref.get(split));
      auto l4 = b->tail(f).levels[0];
      compare(arch + "/" + split, "layer4 (tail)", l4, ref.get("layer4"));
      compare(arch + "/" + split, "logits", linear_head(file, "fc.", l4.mean({2, 3})), ref.get("logits"));
      if (split == "layer4") {
        auto stages = b->forward_stages(input(ref));
        REQUIRE(stages.levels.size() == 4);
        for (size_t i = 0; i < 4; ++i) compare(arch, stages.names[i], stages.levels[i], ref.get(stages.names[i]));
      }
    }
  }
}

TEST_CASE("swin_t/s/b match torchvision at 224: every stage, features after the norm, logits" * doctest::test_suite("parity")) {
  torch::NoGradGuard g;
  for (std::string arch : {"swin_t", "swin_s", "swin_b"}) {
    auto file = read(arch + ".safetensors");
    auto ref = read(arch + "_reference.safetensors");
    auto b = test::make<Backbone>("backbone", "swin", {{"arch", arch}});
    CHECK(b->classifier_prefix() == "head.");
    load_strict(*b, file, {"head."});
    auto stages = b->forward_stages(input(ref));
    REQUIRE(stages.levels.size() == 4);
    for (size_t i = 0; i < 4; ++i) compare(arch, "stage" + std::to_string(i), stages.levels[i], ref.get("stage" + std::to_string(i)));
    auto f = b->forward(input(ref)).levels[0];
    compare(arch, "features", f, ref.get("features"));
    compare(arch, "logits", linear_head(file, "head.", f.mean({2, 3})), ref.get("logits"));
  }
}

TEST_CASE("pvt_v2_b1/b2/b3 match timm at 224: every stage, logits" * doctest::test_suite("parity")) {
  torch::NoGradGuard g;
  for (std::string arch : {"pvt_v2_b1", "pvt_v2_b2", "pvt_v2_b3"}) {
    auto file = read(arch + ".safetensors");
    auto ref = read(arch + "_reference.safetensors");
    auto b = test::make<Backbone>("backbone", "pvt_v2", {{"arch", arch}});
    load_strict(*b, file, {"head."});
    auto stages = b->forward_stages(input(ref));
    REQUIRE(stages.levels.size() == 4);
    for (size_t i = 0; i < 4; ++i) compare(arch, "stage" + std::to_string(i), stages.levels[i], ref.get("stage" + std::to_string(i)));
    auto f = b->forward(input(ref)).levels[0];
    compare(arch, "logits", linear_head(file, "head.", f.mean({2, 3})), ref.get("logits"));
  }
}

TEST_CASE("Mask R-CNN R50-FPN matches torchvision's maskrcnn_resnet50_fpn at 800x1216: stages, FPN levels, "
          "proposals, detections, masks" * doctest::test_suite("parity")) {
  torch::NoGradGuard g;
  auto file = read("maskrcnn.safetensors");
  auto ref = read("maskrcnn_reference.safetensors");
  auto backbone = test::make<Backbone>("backbone", "resnet", {{"arch", "resnet50"}, {"neck", "fpn"}});
  load_strict(*backbone, file, {"rpn.", "roi_heads."});
  det::MaskRcnnConfig cfg;
  cfg.box_score_thresh = 0.02;
  det::MaskRcnnHeads heads(cfg);
  // Strict: every rpn.* and roi_heads.* key of torchvision's checkpoint, nothing else.
  auto rh = plugins::load_state_dict(*heads, file, "", true, {"layer", "conv1.", "bn1.", "fpn."});
  CHECK(rh.missing.empty());
  heads->eval();
  heads->to(device());
  const auto x = input(ref);
  auto stages = backbone->forward_stages(x);
  REQUIRE(stages.levels.size() == 4);
  for (size_t i = 0; i < 4; ++i) compare("maskrcnn", stages.names[i], stages.levels[i], ref.get(stages.names[i]));
  auto f = backbone->forward(x);
  REQUIRE(f.names == std::vector<std::string>{"0", "1", "2", "3", "pool"});
  for (size_t i = 0; i < 5; ++i) compare("maskrcnn", "level." + f.names[i], f.levels[i], ref.get("level." + f.names[i]));
  auto d = heads->detect(f.levels);
  compare("maskrcnn", "proposals", d.proposals[0], ref.get("proposals.0"));
  REQUIRE(d.boxes[0].size(0) == ref.get("boxes.0").size(0));
  REQUIRE(d.boxes[0].size(0) >= 5);  // heads perturbed so that detections survive (11 with torchvision 0.26)
  CHECK(d.labels[0].cpu().equal(ref.get("labels.0")));
  compare("maskrcnn", "boxes", d.boxes[0], ref.get("boxes.0"));
  compare("maskrcnn", "scores", d.scores[0], ref.get("scores.0"));
  compare("maskrcnn", "masks", d.masks[0], ref.get("masks.0"));
  compare("maskrcnn", "pasted masks", det::paste_masks(d.masks[0], d.boxes[0], x.size(2), x.size(3)), ref.get("pasted.0"));
}

// mmdetection's arrangement for the transformer detectors (its Swin and PVTv2 Mask R-CNN configs):
// the library backbones' stages (Swin through per-stage norms) and an FPN under neck.* names.
TEST_CASE("swin_t and pvt_v2_b1 + FPN (mmdetection's arrangement) at 256x352: stages and five levels" *
          doctest::test_suite("parity")) {
  torch::NoGradGuard g;
  for (auto [plugin, arch, name] : {std::tuple<std::string, std::string, std::string>{"swin", "swin_t", "swin_t_fpn"},
                                    {"pvt_v2", "pvt_v2_b1", "pvt_v2_b1_fpn"}}) {
    auto file = read(name + ".safetensors");
    auto ref = read(name + "_reference.safetensors");
    auto b = test::make<Backbone>("backbone", plugin, {{"arch", arch}, {"neck", "fpn"}, {"fpn_channels", 256}});
    load_strict(*b, file, {});  // exactly mmdetection's key set
    auto stages = b->forward_stages(input(ref));
    REQUIRE(stages.levels.size() == 4);
    for (size_t i = 0; i < 4; ++i) compare(name, "stage" + std::to_string(i), stages.levels[i], ref.get("stage" + std::to_string(i)));
    auto f = b->forward(input(ref));
    REQUIRE(f.levels.size() == 5);
    for (size_t i = 0; i < 5; ++i) compare(name, "level." + f.names[i], f.levels[i], ref.get("level." + f.names[i]));
  }
}

TEST_CASE("RoIAlign matches torchvision.ops.roi_align: aligned or not, 2 samples per bin or adaptive" * doctest::test_suite("parity")) {
  auto ref = read("roi_align_reference.safetensors");
  for (bool aligned : {false, true})
    for (int64_t sampling : {0, 2}) {
      const auto key = fmt::format("aligned{}.sampling{}", int(aligned), sampling);
      compare("roi_align", key,
              det::roi_align(input(ref), ref.get("rois").to(device()), 7, 5, 0.25, sampling, aligned), ref.get(key));
    }
}

// engine/inspect's Integrated Gradients against captum.attr.IntegratedGradients itself, on the
// same small CNN, for every case the fixture lists (methods, baselines, internal batch sizes).
TEST_CASE("Integrated Gradients matches Captum: every method, baseline and internal batch size" * doctest::test_suite("parity")) {
  auto weights = read("ig_model.safetensors");
  auto ref = read("ig_reference.safetensors");
  torch::nn::Module model;
  auto conv1 = model.register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3).padding(1)));
  auto conv2 = model.register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(4, 4, 3).padding(1)));
  auto fc = model.register_module("fc", torch::nn::Linear(4, 3));
  plugins::load_state_dict(model, weights, "", true);
  model.to(device());
  auto f = [&](const torch::Tensor& x) {
    return fc->forward(torch::tanh(conv2->forward(torch::tanh(conv1->forward(x)))).mean({2, 3})).select(1, 1);
  };
  std::ifstream in(dir() + "/ig_cases.json");
  REQUIRE(in);
  auto cases = nlohmann::json::parse(in);
  REQUIRE(cases.size() >= 10);
  const auto x = input(ref);
  for (auto& c : cases) {
    const auto name = c["name"].get<std::string>();
    inspect::IgOptions o{c["n_steps"].get<int64_t>(), c["method"].get<std::string>(), c["internal_batch_size"].get<int64_t>()};
    auto r = inspect::integrated_gradients(f, x, ref.get("baseline." + c["baseline"].get<std::string>()).to(device()), o);
    const auto attr = ref.get("attr." + name);
    compare("ig " + name, "attributions", r.attributions, attr);
    // The delta is a difference of near-equal sums (near 0 for Gauss-Legendre): measured against
    // the size of the integral, max over examples of |Σ attr|.
    compare("ig " + name, "delta", r.delta, ref.get("delta." + name), attr.flatten(1).sum(1).abs().max().item<double>());
  }
}

// The weights' own evaluation transforms (plugins::Preprocess with the recipe export_weights.py
// writes) against the libraries' on real JPEGs, in grey levels: |ours − theirs| · std · 255.
TEST_CASE("preprocess recipes match torchvision's, timm's and mmdetection's transforms within one grey level" *
          doctest::test_suite("parity")) {
  auto ref = read("preprocess_reference.safetensors");
  std::ifstream in(dir() + "/preprocess_cases.json");
  REQUIRE(in);
  auto cases = nlohmann::json::parse(in);
  REQUIRE(cases.size() >= 60);
  double worst = 0;
  for (auto& c : cases) {
    const auto key = c["key"].get<std::string>();
    CAPTURE(key);
    const auto recipe = plugins::Preprocess().with(c["recipe"], key);
    auto ours = recipe.apply(plugins::decode_jpeg(dir() + "/" + c["file"].get<std::string>()));
    auto theirs = ref.get(key);
    REQUIRE(ours.sizes() == theirs.sizes());
    auto std_c = torch::tensor(std::vector<double>(recipe.std.begin(), recipe.std.end()), torch::kDouble).view({3, 1, 1});
    const auto levels = (ours.to(torch::kDouble) - theirs.to(torch::kDouble)).abs() * std_c * 255;
    const double grey = levels.max().item<double>();
    const double off = levels.gt(0.5).to(torch::kDouble).mean().item<double>();
    std::printf("parity preprocess %s (%s): %.3e grey levels (%.2f %% of values one level off)\n", key.c_str(),
                c["file"].get<std::string>().c_str(), grey, 100 * off);
    worst = std::max(worst, grey);
    CHECK(grey <= 1.0 + 1e-3);
  }
  std::printf("preprocess: worst %.4f grey levels over %zu images\n", worst, cases.size());
}

// mmdetection itself (tools/mmdet_parity.py, run by tools/mmdet_check.sh where mmdetection and
// mmcv's compiled ops are installed; not in CI: mmcv builds from source for torch 2.11). Its
// checkpoints exported with --mmdet, its own outputs on one input at 800x1216. Tolerances: 1e-5 for
// Swin, 3e-4 for PVTv2 (mmdetection's PVTv2 computes attention with nn.MultiheadAttention, timm's
// with explicit products: the two libraries differ from each other by 3.6e-5 at the backbone on
// these weights, and the plugin follows timm); proposals and detections paired as sets (near-equal
// scores may swap places); the mask head on mmdetection's own boxes at the body's tolerance, the
// masks on the engine's boxes (which differ by ~1e-6 relative, ~2e-3 px) at 5e-3 (measured: 7.3e-4 for
// Swin, 2.6e-3 for PVTv2).
TEST_CASE("Mask R-CNN Swin-T and PVTv2-b1 match mmdetection: stages, FPN levels, proposals, detections, masks" *
          doctest::test_suite("mmdet")) {
  const char* env = std::getenv("FEATJND_MMDET_DIR");
  REQUIRE_MESSAGE(env, "FEATJND_MMDET_DIR is not set: these cases run from tools/mmdet_check.sh");
  const std::string mm = env;
  torch::NoGradGuard g;
  for (auto [plugin, arch] : {std::pair<std::string, std::string>{"swin", "swin_t"}, {"pvt_v2", "pvt_v2_b1"}}) {
    const std::string name = "mmdet mrcnn_" + arch;
    auto file = plugins::SafeTensors::read(mm + "/mrcnn_" + arch + ".safetensors");
    auto ref = plugins::SafeTensors::read(mm + "/mrcnn_" + arch + "_reference.safetensors");
    auto b = test::make<Backbone>("backbone", plugin, {{"arch", arch}, {"neck", "fpn"}});
    load_strict(*b, file, {"rpn.", "roi_heads."});
    det::MaskRcnnConfig cfg;  // mmdetection's head semantics, as its checkpoints' metadata says
    cfg.num_classes = 81, cfg.roi_aligned = true, cfg.roi_sampling_ratio = 0, cfg.round_anchors = false;
    det::MaskRcnnHeads heads(cfg);
    CHECK(plugins::load_state_dict(*heads, file, "", false).missing.empty());
    heads->eval();
    heads->to(device());
    const double body = plugin == "swin" ? 1e-5 : 3e-4;
    const auto x = input(ref);
    auto stages = b->forward_stages(x);
    for (size_t i = 0; i < 4; ++i)
      compare(name, "stage" + std::to_string(i), stages.levels[i], ref.get("stage" + std::to_string(i)), 0, body);
    auto f = b->forward(x);
    for (size_t i = 0; i < 5; ++i) compare(name, "level." + f.names[i], f.levels[i], ref.get("level." + f.names[i]), 0, body);
    auto d = heads->detect(f.levels);
    // Proposals as a set: each of mmdetection's matched to the nearest of ours, one to one.
    const auto theirs = ref.get("proposals"), ours = d.proposals[0].cpu();
    REQUIRE(ours.size(0) == theirs.size(0));
    const auto nearest = torch::cdist(theirs, ours).argmin(1);
    CHECK(std::get<0>(torch::_unique(nearest)).size(0) == theirs.size(0));
    compare(name, "proposals (as a set)", ours.index_select(0, nearest), theirs, 0, body);
    // Detections likewise paired (near-equal scores may swap places), then compared pair by pair.
    REQUIRE(d.boxes[0].size(0) == ref.get("boxes").size(0));
    const auto pair = torch::cdist(ref.get("boxes"), d.boxes[0].cpu()).argmin(1);
    CHECK(std::get<0>(torch::_unique(pair)).size(0) == pair.size(0));
    CHECK((d.labels[0].cpu().index_select(0, pair) - 1).equal(ref.get("labels")));  // mmdetection counts from 0
    compare(name, "boxes", d.boxes[0].cpu().index_select(0, pair), ref.get("boxes"), 0, body);
    compare(name, "scores", d.scores[0].cpu().index_select(0, pair), ref.get("scores"), 0, body);
    const auto boxes = ref.get("boxes").to(device()), labels = ref.get("labels").to(device()) + 1;
    const auto [h, w] = heads->image_size(f.levels);
    auto logits = heads->mask_branch(f.levels, {boxes}, h, w);
    auto on_theirs = logits.index({torch::arange(labels.size(0), labels.options()), labels}).sigmoid();
    compare(name, "mask head on mmdetection's boxes", on_theirs, ref.get("masks"), 0, body);
    compare(name, "masks on the engine's boxes", d.masks[0].cpu().index_select(0, pair), ref.get("masks"), 0, 5e-3);
  }
}
