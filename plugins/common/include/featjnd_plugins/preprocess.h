// The evaluation transform of a network's weights, as a parameter set: published weights were
// measured with their origin's transform (torchvision's Swin with bicubic resizing to 232/246/238,
// timm's PVTv2 with bicubic resizing to 248, mmdetection's detectors with OpenCV's bilinear
// resize to 1333x800 and padding to 32), and another transform lowers every clean accuracy.
//
// tools/export_weights.py writes the recipe of the weights it exports into their metadata
// ("preprocess"); the task uses it, a spec's `preprocess` parameter overrides it field by field,
// and the run records the transform it used (its artifact preprocess.json).
//
// Two pixel models:
//  - resize_on: uint8  the decoded 8-bit image is resized and rounded to 8 bits, then normalised:
//    PIL's resampling (torchvision's and timm's ImageNet loaders; LibTorch's antialiased uint8
//    kernels reproduce it) and OpenCV's (mmdetection);
//  - resize_on: float  normalised first, then resized in floating point (torchvision's
//    GeneralizedRCNNTransform for its detectors).
#pragma once

#include <array>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace featjnd::plugins {

struct Preprocess {
  int64_t resize = 256;      // the shorter side after resizing (0: no resize)
  int64_t max_size = 0;      // detection: the longer side at most this (0: no bound)
  int64_t crop = 224;        // centre crop, square (0: none)
  std::string interpolation = "bilinear";  // bilinear | bicubic
  bool antialias = true;     // PIL resamples with a filter as wide as the scale; OpenCV does not
  std::string resize_on = "uint8";         // uint8 | float (see above)
  std::string size_rounding = "floor";     // the resized side: floor (torchvision) or round (mmcv) of side·scale
  std::array<double, 3> mean{0.485, 0.456, 0.406};  // on [0, 1]
  std::array<double, 3> std{0.229, 0.224, 0.225};
  std::string channel_order = "rgb";       // the network's input channel order: rgb | bgr
  int64_t pad_divisor = 0;   // detection: the batch padded to a multiple of this (0: none)

  // Every field named; unknown keys and bad values are refused naming the key and the rule.
  nlohmann::json to_json() const;
  // `j` overrides the fields it names; `what` says where it came from (for errors).
  Preprocess with(const nlohmann::json& j, const std::string& what) const;

  // The recipes of the weights' origins, by name: torchvision (its ImageNet classifiers),
  // torchvision-detection, timm, mmdetection.
  static Preprocess named(const std::string& origin);

  // The output size (height, width) of an image of h x w before any crop.
  std::pair<int64_t, int64_t> resized_size(int64_t h, int64_t w) const;
  // A decoded 3 x H x W uint8 RGB image into the network's normalised float input (cropped when
  // crop > 0; not padded: padding is per batch).
  torch::Tensor apply(const torch::Tensor& rgb_uint8) const;
};

// The recipe a weights file carries in its metadata ("preprocess": the JSON of to_json()), or
// `fallback` when it carries none.
Preprocess preprocess_of_weights(const std::string& weights_path, const Preprocess& fallback);

}  // namespace featjnd::plugins
