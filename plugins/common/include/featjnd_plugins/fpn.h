// The feature pyramid every detection backbone ends in: 1×1 lateral convs, nearest top-down
// upsampling to each finer level's size, 3×3 output convs, and a fifth level by max-pooling the
// coarsest output (kernel 1, stride 2). torchvision's FeaturePyramidNetwork + LastLevelMaxPool
// (maskrcnn_resnet50_fpn) and mmdetection's FPN with num_outs=5, add_extra_convs=False (its
// Swin and PVTv2 Mask R-CNN configs) compute exactly this; they differ only in parameter names,
// which `FpnNames` selects so that either kind of checkpoint loads by name.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace featjnd::plugins {

enum class FpnNames {
  torchvision,  // inner_blocks.{i}.0.*, layer_blocks.{i}.0.*
  mmdetection,  // lateral_convs.{i}.conv.*, fpn_convs.{i}.conv.*
};

struct FeaturePyramidImpl : torch::nn::Module {
  FeaturePyramidImpl(const std::vector<int64_t>& in_channels, int64_t out_channels, FpnNames names);
  // `stages`: the backbone's stage outputs, finest first. Returns len(stages) + 1 levels.
  std::vector<torch::Tensor> forward(const std::vector<torch::Tensor>& stages);

  std::vector<torch::nn::Conv2d> lateral, output;
};
TORCH_MODULE(FeaturePyramid);

// The names Mask R-CNN gives the five levels (torchvision's OrderedDict keys).
inline std::vector<std::string> fpn_level_names() { return {"0", "1", "2", "3", "pool"}; }

}  // namespace featjnd::plugins
