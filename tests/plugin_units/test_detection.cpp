// Mask R-CNN heads against torchvision's maskrcnn_resnet50_fpn (tools/make_parity_fixtures.py),
// and the ops by hand.
#include <doctest/doctest.h>

#include <cstdlib>
#include <torch/torch.h>

#include "featjnd_plugins/safetensors.h"
#include "mask_rcnn.h"
#include "scenes.h"

#include <nlohmann/json.hpp>
#include "plugin_test_support.h"

using namespace featjnd;
namespace det = featjnd::detection;

TEST_CASE("detection ops by hand: IoU, NMS, box coding, RoIAlign") {
  auto a = torch::tensor({{0.f, 0.f, 10.f, 10.f}, {5.f, 0.f, 15.f, 10.f}, {100.f, 100.f, 110.f, 110.f}});
  auto iou = det::box_iou(a, a);
  CHECK(iou[0][1].item<float>() == doctest::Approx(50.0 / 150.0));
  CHECK(iou[0][2].item<float>() == 0.f);
  // 1/3 overlap: kept at 0.3? no (1/3 > 0.3); kept at 0.5.
  auto scores = torch::tensor({0.9f, 0.8f, 0.7f});
  CHECK(det::nms(a, scores, 0.3).equal(torch::tensor({0, 2}, torch::kLong)));
  CHECK(det::nms(a, scores, 0.5).equal(torch::tensor({0, 1, 2}, torch::kLong)));
  // Different groups never suppress each other.
  CHECK(det::batched_nms(a, scores, torch::tensor({0, 1, 0}, torch::kLong), 0.3).equal(torch::tensor({0, 1, 2}, torch::kLong)));
  // encode ∘ decode = identity (weights 10, 10, 5, 5).
  auto anchors = torch::tensor({{10.f, 10.f, 30.f, 50.f}});
  auto target = torch::tensor({{12.f, 8.f, 40.f, 44.f}});
  auto round_trip = det::decode_boxes(det::encode_boxes(target, anchors, {10, 10, 5, 5}), anchors, {10, 10, 5, 5});
  CHECK(torch::allclose(round_trip, target, 1e-5, 1e-4));
  // RoIAlign of a linear ramp f(y, x) = x: each bin's value is the mean x of its 2×2 samples.
  auto ramp = torch::arange(8, torch::kFloat).view({1, 1, 1, 8}).expand({1, 1, 8, 8}).contiguous();
  auto out = det::roi_align(ramp, torch::tensor({{0.f, 1.f, 1.f, 5.f, 5.f}}), 2, 2, 1.0, 2);
  // bin width 2; samples at x = 1.5, 2.5 (left bin) and 3.5, 4.5 (right bin).
  CHECK(out[0][0][0][0].item<float>() == doctest::Approx(2.0));
  CHECK(out[0][0][0][1].item<float>() == doctest::Approx(4.0));
}

TEST_CASE("Mask R-CNN heads: matches torchvision's maskrcnn_resnet50_fpn: proposals, boxes, scores, labels, masks") {
  const char* dir = std::getenv("FEATJND_PARITY_DIR");
  if (!dir) {
    MESSAGE("FEATJND_PARITY_DIR is not set; the parity test runs from tests/integration/test_parity.sh");
    return;
  }
  torch::NoGradGuard g;
  auto file = plugins::SafeTensors::read(std::string(dir) + "/maskrcnn.safetensors");
  auto backbone = test::make<Backbone>("backbone", "resnet", {{"arch", "resnet50"}, {"neck", "fpn"}});
  auto rb = plugins::load_state_dict(backbone->module(), file, "", true, {"rpn.", "roi_heads."});
  CHECK(rb.missing.empty());
  det::MaskRcnnConfig cfg;
  cfg.box_score_thresh = 0.02;
  det::MaskRcnnHeads heads(cfg);
  // Strict: every rpn.* and roi_heads.* key of torchvision's checkpoint, nothing else.
  auto rh = plugins::load_state_dict(*heads, file, "", true, {"layer", "conv1.", "bn1.", "fpn."});
  CHECK(rh.missing.empty());
  backbone->module().eval();
  heads->eval();
  auto ref = plugins::SafeTensors::read(std::string(dir) + "/maskrcnn_reference.safetensors");
  auto f = backbone->forward(ref.get("input"));
  auto d = heads->detect(f.levels);
  const auto rel = test::rel_diff;
  for (size_t b = 0; b < 2; ++b) {
    CAPTURE(b);
    const auto s = std::to_string(b);
    REQUIRE(d.proposals[b].sizes() == ref.get("proposals." + s).sizes());
    CHECK(rel(d.proposals[b], ref.get("proposals." + s)) < 1e-5);
    REQUIRE(d.boxes[b].sizes() == ref.get("boxes." + s).sizes());
    CHECK(d.labels[b].equal(ref.get("labels." + s)));
    CHECK(rel(d.boxes[b], ref.get("boxes." + s)) < 1e-5);
    CHECK(rel(d.scores[b], ref.get("scores." + s)) < 1e-5);
    CHECK(rel(d.masks[b], ref.get("masks." + s)) < 1e-5);
    auto pasted = det::paste_masks(d.masks[b], d.boxes[b], 96, 128);
    CHECK(rel(pasted, ref.get("pasted." + s)) < 1e-5);
  }
}

TEST_CASE("Fashion-MNIST scenes: seeded, and every annotation is its visible mask's extent") {
  det::SceneOptions o;
  o.root = "/usr/share/datasets/fashion-mnist";
  o.count = 12;
  o.seed = 5;
  auto a = det::make_scenes(o, Split::eval), b = det::make_scenes(o, Split::eval);
  o.seed = 6;
  auto c = det::make_scenes(o, Split::eval);
  REQUIRE(a.size() == 12);
  bool differs = false;
  int64_t objects = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].image.equal(b[i].image));
    CHECK(a[i].boxes.equal(b[i].boxes));
    CHECK(a[i].masks.equal(b[i].masks));
    differs = differs || !a[i].image.equal(c[i].image);
    const auto& s = a[i];
    CHECK(s.image.sizes() == torch::IntArrayRef({128, 128}));
    CHECK(s.boxes.size(0) <= 6);
    objects += s.boxes.size(0);
    for (int64_t k = 0; k < s.boxes.size(0); ++k) {
      auto m = s.masks[k].to(torch::kBool);
      auto rows = torch::where(m.any(1))[0], cols = torch::where(m.any(0))[0];
      CHECK(s.boxes[k][0].item<float>() == cols.min().item<float>());
      CHECK(s.boxes[k][3].item<float>() == rows.max().item<float>() + 1);
      CHECK(s.labels[k].item<int64_t>() >= 1);
      CHECK(s.labels[k].item<int64_t>() <= 10);
      CHECK(m.sum().item<int64_t>() >= 20);
      CHECK(s.image.masked_select(m).min().item<float>() > 0.1f);  // masks cover ink only
    }
    // Occlusion: no pixel belongs to two objects.
    if (s.masks.size(0) > 1) CHECK(s.masks.to(torch::kInt).sum(0).max().item<int>() <= 1);
  }
  CHECK(differs);
  CHECK(objects >= 12);
  auto coco = nlohmann::json::parse(det::scenes_coco_json(a));
  CHECK(coco["images"].size() == 12);
  CHECK(static_cast<int64_t>(coco["annotations"].size()) == objects);
  CHECK(coco["categories"].size() == 10);
}

TEST_CASE("detection task: D is zero on the clean features, positive and differentiable on distorted ones") {
  test::TestContext ctx;
  auto backbone = test::make<Backbone>(
      "backbone", "resnet", {{"arch", "resnet18"}, {"width", 8}, {"in_channels", 1}, {"neck", "fpn"}, {"fpn_channels", 16}});
  auto task = test::make<Task>("task", "detection",
                               {{"train_samples", 8}, {"eval_samples", 4}, {"batch_size", 2}, {"representation", 32},
                                {"mask_channels", 8}, {"anchor_sizes", {16, 32, 64, 128, 256}}, {"box_score_thresh", 0.0},
                                {"detections_per_img", 5}});
  task->attach(*backbone, ctx);
  backbone->module().eval();
  task->head_module().eval();
  auto data = task->data(Split::eval, ctx);
  data->reset(0);
  auto batch = data->next();
  REQUIRE(batch);
  auto f = backbone->forward(batch->images);
  for (auto& l : f.levels) l = l.detach();
  TensorMap clean;
  {
    torch::NoGradGuard g;
    clean = task->head(f);
  }
  CHECK(clean.at("det_counts").sum().item<int64_t>() > 0);
  CHECK(task->discrepancy(clean, task->head_distorted(f, clean)).item<double>() == doctest::Approx(0.0).epsilon(1e-9));
  Features g = f;
  auto noise = torch::randn_like(f.levels[0]).requires_grad_(true);
  g.levels[0] = f.levels[0] + noise;
  auto d = task->discrepancy(clean, task->head_distorted(g, clean));
  CHECK(d.item<double>() > 0);
  d.backward();
  REQUIRE(noise.grad().defined());
  CHECK(noise.grad().abs().sum().item<double>() > 0);
  // The evaluator takes the head's output: 12 bbox and 12 segm statistics.
  auto ev = task->evaluator();
  ev->reset();
  {
    torch::NoGradGuard ng;
    ev->digest(task->head(f), *batch);
  }
  auto r = ev->results();
  CHECK(r.count("bbox.AP"));
  CHECK(r.count("segm.ARl"));
  CHECK(r.at("detections_per_image") > 0);
}
