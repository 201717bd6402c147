// COCO 2017 images for the paper's detection setting: <root>/<split>2017/*.jpg with
// <root>/annotations/instances_<split>2017.json, transformed by the weights' recipe
// (plugins::Preprocess: torchvision's GeneralizedRCNNTransform, or mmdetection's test pipeline),
// the batch zero-padded to a multiple of its pad_divisor. Each image's instances carry its COCO
// id, original and resized sizes, so that detections return to original coordinates for the
// evaluation against the annotation file.
#pragma once

#include <memory>
#include <string>

#include "coco/dataset.h"
#include "featjnd/components.h"
#include "featjnd_plugins/preprocess.h"

namespace featjnd::detection {

struct CocoOptions {
  std::string root;
  int64_t limit = 0;  // 0: every image; else the first `limit` by id
  int64_t batch_size = 2;
  plugins::Preprocess preprocess = plugins::Preprocess::named("torchvision-detection");
};

std::string coco_annotation_path(const std::string& root, Split split);
std::unique_ptr<DataSource> make_coco_source(const CocoOptions& o, Split split);

}  // namespace featjnd::detection
