// Mask R-CNN's heads over FPN features, with torchvision's module names (rpn.head.*,
// roi_heads.box_head.fc6/fc7, roi_heads.box_predictor.*, roi_heads.mask_head.{0..3}.0,
// roi_heads.mask_predictor.*) and torchvision's inference semantics (maskrcnn_resnet50_fpn):
// anchors, RPN top-k/NMS per level, MultiScaleRoIAlign with its level mapper, box decoding,
// per-class NMS, mask pasting. Everything is tensor code, so it runs on CPU and CUDA and is
// differentiable where the discrepancy needs it.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

namespace featjnd::detection {

struct MaskRcnnConfig {
  int64_t num_classes = 91;  // with the background at 0, as torchvision
  int64_t channels = 256;    // FPN width
  int64_t representation = 1024;
  int64_t mask_channels = 256;
  bool masks = true;
  // RPN
  int64_t pre_nms_train = 2000, post_nms_train = 2000, pre_nms_test = 1000, post_nms_test = 1000;
  double rpn_nms = 0.7, rpn_score_thresh = 0.0;
  std::vector<double> anchor_sizes{32, 64, 128, 256, 512};
  // RoI heads
  double box_score_thresh = 0.05, box_nms = 0.5;
  int64_t detections_per_img = 100;
  // The padded batch size anchors are laid on; 0: 4 × level '0' (stride-4 backbones).
  int64_t image_h = 0, image_w = 0;
  // Training: anchors and RoIs sampled per image, positive fractions (torchvision's defaults).
  int64_t rpn_batch = 256, roi_batch = 512;
  double rpn_positive = 0.5, roi_positive = 0.25;
  // Where mmdetection's Mask R-CNN differs from torchvision's (its checkpoints expect these):
  // RoIAlign with the half-pixel offset and adaptive sampling, and cell anchors not rounded.
  bool roi_aligned = false;
  int64_t roi_sampling_ratio = 2;  // ≤ 0: adaptive
  bool round_anchors = true;
};

// Each image's own (height, width) inside a padded batch: from Features::image_sizes (B×2), or the
// padded size for every image when those are not given.
using ImageSizes = std::vector<std::array<int64_t, 2>>;
ImageSizes image_sizes_of(const torch::Tensor& sizes, int64_t batch, int64_t padded_h, int64_t padded_w);

// torchvision's smooth L1 with beta = 1/9 on box deltas. (LibTorch 1.13's functional ignores
// SmoothL1LossFuncOptions::beta and uses its own beta argument, 1; ATen's op is unambiguous.)
inline torch::Tensor smooth_l1(const torch::Tensor& input, const torch::Tensor& target, bool sum = false) {
  return torch::smooth_l1_loss(input, target, sum ? at::Reduction::Sum : at::Reduction::Mean, 1.0 / 9);
}

// Box utilities (x1, y1, x2, y2).
torch::Tensor decode_boxes(const torch::Tensor& deltas, const torch::Tensor& boxes, const std::array<double, 4>& weights);
torch::Tensor encode_boxes(const torch::Tensor& targets, const torch::Tensor& anchors, const std::array<double, 4>& weights);
torch::Tensor clip_boxes(const torch::Tensor& boxes, int64_t h, int64_t w);
torch::Tensor box_iou(const torch::Tensor& a, const torch::Tensor& b);
// torchvision.ops.nms / batched_nms: indices kept, by decreasing score.
torch::Tensor nms(const torch::Tensor& boxes, const torch::Tensor& scores, double iou_threshold);
torch::Tensor batched_nms(const torch::Tensor& boxes, const torch::Tensor& scores, const torch::Tensor& groups, double iou_threshold);
// torchvision.ops.roi_align; rois: K×5 (batch index, box). Mask R-CNN in torchvision uses
// aligned=false and 2 samples per bin; mmdetection (mmcv's RoIAlign) aligned=true, the half-pixel
// offset, and adaptive sampling (sampling_ratio 0: ceil(RoI size / output size) per bin).
torch::Tensor roi_align(const torch::Tensor& input, const torch::Tensor& rois, int64_t out_h, int64_t out_w,
                        double spatial_scale, int64_t sampling_ratio, bool aligned = false);
// MultiScaleRoIAlign over levels 0-3 of the FPN (its 'pool' level is the RPN's only). The level
// of a box is torchvision's LevelMapper, floor(4 + log2(√area / 224) + 1e-6) clamped to the
// levels; mmdetection's floor(log2(√area / 56 + 1e-6)) differs only in where the 1e-6 goes.
torch::Tensor multiscale_roi_align(const std::vector<torch::Tensor>& levels, const std::vector<torch::Tensor>& boxes,
                                   int64_t image_h, int64_t image_w, int64_t output, int64_t sampling_ratio,
                                   bool aligned = false);
// Pastes M×M mask probabilities into h×w images (torchvision's paste_masks_in_image).
torch::Tensor paste_masks(const torch::Tensor& masks, const torch::Tensor& boxes, int64_t h, int64_t w);

// Per-image results of the whole head.
struct Detections {
  std::vector<torch::Tensor> proposals;  // per image, R×4
  std::vector<torch::Tensor> boxes, scores, labels;
  std::vector<torch::Tensor> masks;      // per image, N×M×M probabilities of the predicted class
};

// What the RPN and the RoI heads output for fixed anchors, proposals and mask boxes: the raw
// quantities FeatJND's detection discrepancy compares between clean and distorted features.
struct RawOutputs {
  torch::Tensor objectness;   // B×A (anchors of every level, torchvision's order)
  torch::Tensor rpn_deltas;   // B×A×4
  torch::Tensor class_logits; // R×C over the given proposals
  torch::Tensor box_deltas;   // R×4C
  torch::Tensor mask_logits;  // N×M×M over the given boxes, channel of the given labels
};

struct MaskRcnnHeadsImpl : torch::nn::Module {
  explicit MaskRcnnHeadsImpl(const MaskRcnnConfig& c);

  // levels: '0'..'3','pool'. `raw`, if given, receives the RPN and RoI outputs this pass computed
  // (its mask logits over the detected boxes), what the detection discrepancy compares.
  // `image_sizes` (B×2, optional): each image's size inside the padded batch; boxes are clipped
  // to it, as torchvision clips to each image's own size.
  Detections detect(const std::vector<torch::Tensor>& levels, RawOutputs* raw = nullptr,
                    const torch::Tensor& image_sizes = {});
  // Postprocessing of the box branch into d.boxes/scores/labels, and the mask branch into d.masks.
  void postprocess(Detections& d, const torch::Tensor& class_logits, const torch::Tensor& box_deltas,
                   const ImageSizes& sizes);
  void add_masks(Detections& d, const std::vector<torch::Tensor>& levels, int64_t h, int64_t w,
                 torch::Tensor* selected_logits = nullptr);
  std::pair<int64_t, int64_t> image_size(const std::vector<torch::Tensor>& levels) const;

  // Mask R-CNN's training losses (torchvision's matchers, samplers and losses) for images with
  // targets boxes (K×4, x1y1x2y2), labels (K, 1..C-1) and masks (K×H×W).
  std::map<std::string, torch::Tensor> losses(const std::vector<torch::Tensor>& levels,
                                              const std::vector<torch::Tensor>& gt_boxes,
                                              const std::vector<torch::Tensor>& gt_labels,
                                              const std::vector<torch::Tensor>& gt_masks, at::Generator& gen);
  RawOutputs raw(const std::vector<torch::Tensor>& levels, const std::vector<torch::Tensor>& proposals,
                 const std::vector<torch::Tensor>& mask_boxes, const std::vector<torch::Tensor>& mask_labels);

  // Pieces, for training.
  std::pair<torch::Tensor, torch::Tensor> rpn_head(const std::vector<torch::Tensor>& levels);  // B×A, B×A×4
  torch::Tensor anchors(const std::vector<torch::Tensor>& levels, std::vector<int64_t>* per_level = nullptr);
  std::vector<torch::Tensor> proposals(const torch::Tensor& objectness, const torch::Tensor& deltas,
                                       const torch::Tensor& anchors, const std::vector<int64_t>& per_level,
                                       const ImageSizes& sizes);
  std::pair<torch::Tensor, torch::Tensor> box_branch(const std::vector<torch::Tensor>& levels,
                                                     const std::vector<torch::Tensor>& rois, int64_t h, int64_t w);
  torch::Tensor mask_branch(const std::vector<torch::Tensor>& levels, const std::vector<torch::Tensor>& boxes, int64_t h,
                            int64_t w);  // N×C×28×28 logits

  MaskRcnnConfig cfg;
  torch::nn::Sequential rpn_conv{nullptr};
  torch::nn::Conv2d rpn_cls{nullptr}, rpn_bbox{nullptr};
  torch::nn::Linear fc6{nullptr}, fc7{nullptr}, cls_score{nullptr}, bbox_pred{nullptr};
  torch::nn::Sequential mask_head{nullptr};
  torch::nn::ConvTranspose2d conv5_mask{nullptr};
  torch::nn::Conv2d mask_fcn_logits{nullptr};
  torch::Tensor cell_anchors_;  // per level A×4, concatenated (L·A)×4
  int64_t anchors_per_location = 3;
};
TORCH_MODULE(MaskRcnnHeads);

}  // namespace featjnd::detection
