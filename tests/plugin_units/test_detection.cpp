// Mask R-CNN heads against torchvision's maskrcnn_resnet50_fpn (tools/make_parity_fixtures.py),
// and the ops by hand.
#include <doctest/doctest.h>

#include <cstdlib>
#include <torch/torch.h>

#include "featjnd_plugins/safetensors.h"
#include "mask_rcnn.h"
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
