// Fashion-MNIST scenes: real Fashion-MNIST items composed on canvases, with instance boxes and
// masks, for an offline detection and instance-segmentation task. Seeded: the same seed gives
// the same scenes. Later items occlude earlier ones; an item left with less than a third of its
// pixels visible is dropped from the annotations (but stays painted, as clutter).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "featjnd/components.h"

namespace featjnd::detection {

struct SceneOptions {
  std::string root;        // Fashion-MNIST IDX folder
  int64_t size = 128;      // square canvas
  int64_t min_items = 1, max_items = 6;
  double min_scale = 1.0, max_scale = 2.0;  // item side 28·scale pixels
  int64_t count = 1000;
  uint64_t seed = 0;
  int64_t channels = 1;
  int64_t batch_size = 8;
  bool augment = false;    // horizontal flips while training
};

struct Scene {
  torch::Tensor image;    // size×size, float in [0, 1]
  torch::Tensor boxes;    // K×4 (x1, y1, x2, y2), pixel edges
  torch::Tensor labels;   // K, 1..10 (0 is the background)
  torch::Tensor masks;    // K×size×size, uint8
};

extern const char* const kFashionMnistClasses[10];

// Scenes from the train or t10k items.
std::vector<Scene> make_scenes(const SceneOptions& o, Split split);
std::unique_ptr<DataSource> make_scene_source(std::vector<Scene> scenes, const SceneOptions& o);

// The scenes as a COCO instances file (boxes, RLE masks, the 10 categories), for coco-eval.
std::string scenes_coco_json(const std::vector<Scene>& scenes);

}  // namespace featjnd::detection
