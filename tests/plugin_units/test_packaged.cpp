// The packaged backbone against eager PyTorch: tools/make_package_fixtures.py packages five
// timm/torchvision families (and timm's Swin-T for the NHWC layout) with tools/export_model.py and
// writes what the original model computes — the split module's output through a forward hook and
// the logits. The engine's levels are checked against that output in the layout package.json
// declares, re-derived here from its definition (tokens: the patch tokens as a Gh×Gw map, the
// prefix tokens as a 1×P map), and its logits through the package's head.
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "featjnd/components.h"
#include "featjnd_plugins/safetensors.h"
#include "mask_rcnn.h"
#include "plugin_test_support.h"

using namespace featjnd;

namespace {

std::string package_dir() {
  const char* dir = std::getenv("FEATJND_PACKAGE_DIR");
  REQUIRE_MESSAGE(dir != nullptr, "FEATJND_PACKAGE_DIR is not set: these cases run from tests/integration/test_packaged.sh");
  return dir;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), path);
  return nlohmann::json::parse(in);
}

void compare(const std::string& what, const torch::Tensor& ours, const torch::Tensor& theirs) {
  CAPTURE(what);
  REQUIRE(ours.sizes() == theirs.sizes());
  const double d = test::rel_diff(ours.to(torch::kDouble), theirs.to(torch::kDouble));
  std::printf("packaged %s: %.3e\n", what.c_str(), d);
  CHECK(d < 1e-5);
}

// The split module's output (B×C×H×W, B×H×W×C or B×N×C) as the engine's maps must hold it.
std::vector<torch::Tensor> expected_levels(const torch::Tensor& split, const nlohmann::json& c,
                                           const nlohmann::json& package) {
  const std::string layout = c.at("layout");
  if (layout == "nchw") return {split};
  if (layout == "nhwc") return {split.permute({0, 3, 1, 2})};
  const auto& s = package.at("split").at(0);
  const int64_t p = c.at("prefix_tokens"), gh = s.at("grid")[0], gw = s.at("grid")[1];
  REQUIRE(s.at("prefix_tokens") == p);
  REQUIRE(split.size(1) == p + gh * gw);
  std::vector<torch::Tensor> maps;
  // Token p + y·Gw + x is the patch at row y, column x (ViT's row-major patch order).
  auto patches = split.slice(1, p).reshape({split.size(0), gh, gw, split.size(2)}).permute({0, 3, 1, 2});
  maps.push_back(patches);
  if (p) maps.push_back(split.slice(1, 0, p).transpose(1, 2).unsqueeze(2));
  return maps;
}

}  // namespace

TEST_CASE("packaged models match eager PyTorch: the split's levels and the logits" * doctest::test_suite("packaged")) {
  torch::NoGradGuard g;
  const auto cases = read_json(package_dir() + "/cases.json");
  REQUIRE(cases.size() >= 5);
  for (const auto& c : cases) {
    const std::string name = c.at("case");
    const auto dir = package_dir() + "/" + name;
    const auto package = read_json(dir + "/package.json");
    auto ref = plugins::SafeTensors::read(package_dir() + "/" + name + "_reference.safetensors");
    auto b = test::make<Backbone>("backbone", "packaged", {{"package", dir}});
    b->module().eval();
    REQUIRE(b->has_classifier());
    auto f = b->forward(ref.get("input"));
    const auto want = expected_levels(ref.get("split"), c, package);
    REQUIRE(f.levels.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      CHECK(f.names[i] == package.at("levels")[i].at("name").get<std::string>());
      compare(name + " " + f.names[i], f.levels[i], want[i]);
    }
    compare(name + " logits", b->classify(f), ref.get("logits"));
  }
}

TEST_CASE("a package whose file changed after export is refused naming it" * doctest::test_suite("packaged")) {
  const auto dir = test::fs::temp_directory_path() / "featjnd-package-changed";
  test::fs::remove_all(dir);
  test::fs::copy(package_dir() + "/mobilenet_v3_large", dir);
  {
    std::fstream f(dir / "head.pt", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x5a');
  }
  const auto* rec = test::loaded_plugins().find("backbone", "packaged");
  REQUIRE(rec);
  try {
    test::loaded_plugins().create(*rec, PluginRegistry::resolve_params(*rec, {{"package", dir.string()}}));
    FAIL("a changed head.pt was loaded");
  } catch (const std::exception& e) {
    CHECK(std::string(e.what()).find("head.pt is not the file the package was exported with") != std::string::npos);
  }
  test::fs::remove_all(dir);
}

// A detector's package (export_model.py --detector; examples/byom/maskrcnn_r18.py, ResNet-18 + FPN,
// none of the paper's detectors): the trunk's five levels feed the engine's Mask R-CNN heads,
// loaded strictly from the package's maskrcnn.safetensors, and give torchvision's proposals and
// detections.
TEST_CASE("a packaged detector's levels feed the engine's Mask R-CNN heads: torchvision's detections" *
          doctest::test_suite("packaged")) {
  torch::NoGradGuard g;
  const auto dir = package_dir() + "/maskrcnn_r18";
  const auto package = read_json(dir + "/package.json");
  CHECK(package.at("task") == "detection");
  auto ref = plugins::SafeTensors::read(package_dir() + "/maskrcnn_r18_reference.safetensors");
  auto file = plugins::SafeTensors::read(dir + "/maskrcnn.safetensors");
  auto b = test::make<Backbone>("backbone", "packaged", {{"package", dir}, {"weights", dir + "/maskrcnn.safetensors"}});
  CHECK_FALSE(b->has_classifier());
  CHECK(b->weights_path() == dir + "/maskrcnn.safetensors");
  // Strict both ways, as the detection task loads it: the trunk's tensors and the heads'.
  auto rb = plugins::load_state_dict(b->module(), file, "", true, {"rpn.", "roi_heads."});
  CHECK(rb.missing.empty());
  CHECK(rb.unexpected.empty());
  b->module().eval();
  detection::MaskRcnnConfig cfg;
  cfg.box_score_thresh = 0.02;
  cfg.num_classes = package.at("num_classes");
  detection::MaskRcnnHeads heads(cfg);
  auto rh = plugins::load_state_dict(*heads, file, "", true, {"trunk."});
  CHECK(rh.missing.empty());
  heads->eval();
  const auto x = ref.get("input");
  auto f = b->forward(x);
  REQUIRE(f.names == std::vector<std::string>{"0", "1", "2", "3", "pool"});
  for (size_t i = 0; i < 5; ++i) compare("maskrcnn_r18 level " + f.names[i], f.levels[i], ref.get("level." + f.names[i]));
  auto d = heads->detect(f.levels);
  compare("maskrcnn_r18 proposals", d.proposals[0], ref.get("proposals.0"));
  REQUIRE(d.boxes[0].size(0) == ref.get("boxes.0").size(0));
  REQUIRE(d.boxes[0].size(0) >= 3);
  CHECK(d.labels[0].equal(ref.get("labels.0")));
  compare("maskrcnn_r18 boxes", d.boxes[0], ref.get("boxes.0"));
  compare("maskrcnn_r18 scores", d.scores[0], ref.get("scores.0"));
  compare("maskrcnn_r18 masks", d.masks[0], ref.get("masks.0"));
}
