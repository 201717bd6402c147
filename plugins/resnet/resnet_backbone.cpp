// ResNet-18/34/50 with torchvision's module and parameter names (conv1, bn1, layer1.0.conv1,
// layer2.0.downsample.0, …), so torchvision state dicts load by name. The split is the output
// of layer4 (the paper's split, before global pooling) or of layer3, in which case layer4 joins
// the task's head through tail().
#include <torch/torch.h>

#include "featjnd/plugin.h"
#include "featjnd_plugins/fpn.h"

namespace {

using torch::nn::BatchNorm2d;
using torch::nn::Conv2d;
using torch::nn::Conv2dOptions;

Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride) {
  return Conv2d(Conv2dOptions(in, out, k).stride(stride).padding(k / 2).bias(false));
}

struct BasicBlockImpl : torch::nn::Module {
  static constexpr int64_t expansion = 1;
  BasicBlockImpl(int64_t in, int64_t planes, int64_t stride, torch::nn::Sequential downsample_) {
    conv1 = register_module("conv1", conv(in, planes, 3, stride));
    bn1 = register_module("bn1", BatchNorm2d(planes));
    conv2 = register_module("conv2", conv(planes, planes, 3, 1));
    bn2 = register_module("bn2", BatchNorm2d(planes));
    if (downsample_) downsample = register_module("downsample", downsample_);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto out = torch::relu(bn1(conv1(x)));
    out = bn2(conv2(out));
    return torch::relu(out + (downsample ? downsample->forward(x) : x));
  }
  Conv2d conv1{nullptr}, conv2{nullptr};
  BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(BasicBlock);

// torchvision's Bottleneck (ResNet v1.5: the stride sits on the 3×3 convolution).
struct BottleneckImpl : torch::nn::Module {
  static constexpr int64_t expansion = 4;
  BottleneckImpl(int64_t in, int64_t planes, int64_t stride, torch::nn::Sequential downsample_) {
    conv1 = register_module("conv1", conv(in, planes, 1, 1));
    bn1 = register_module("bn1", BatchNorm2d(planes));
    conv2 = register_module("conv2", conv(planes, planes, 3, stride));
    bn2 = register_module("bn2", BatchNorm2d(planes));
    conv3 = register_module("conv3", conv(planes, planes * expansion, 1, 1));
    bn3 = register_module("bn3", BatchNorm2d(planes * expansion));
    if (downsample_) downsample = register_module("downsample", downsample_);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto out = torch::relu(bn1(conv1(x)));
    out = torch::relu(bn2(conv2(out)));
    out = bn3(conv3(out));
    return torch::relu(out + (downsample ? downsample->forward(x) : x));
  }
  Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(Bottleneck);

struct ResNetImpl : torch::nn::Module {
  ResNetImpl(int64_t depth, int64_t width, int64_t in_channels, bool small_stem) : small_stem(small_stem) {
    std::vector<int64_t> blocks;
    if (depth == 18) blocks = {2, 2, 2, 2};
    else if (depth == 34 || depth == 50) blocks = {3, 4, 6, 3};
    else throw std::invalid_argument("resnet depth must be 18, 34 or 50");
    bottleneck = depth == 50;
    // The small stem (3×3, stride 1, no max-pool) keeps 28×28 inputs from shrinking to 7×7 at once.
    conv1 = register_module("conv1", small_stem ? conv(in_channels, width, 3, 1) : conv(in_channels, width, 7, 2));
    bn1 = register_module("bn1", BatchNorm2d(width));
    int64_t in = width;
    for (int i = 0; i < 4; ++i) {
      int64_t planes = width << i;
      int64_t stride = i == 0 ? 1 : 2;
      int64_t expansion = bottleneck ? 4 : 1;
      torch::nn::Sequential layer;
      for (int64_t b = 0; b < blocks[static_cast<size_t>(i)]; ++b) {
        torch::nn::Sequential down{nullptr};
        int64_t s = b == 0 ? stride : 1;
        if (b == 0 && (s != 1 || in != planes * expansion))
          down = torch::nn::Sequential(conv(in, planes * expansion, 1, s), BatchNorm2d(planes * expansion));
        if (bottleneck)
          layer->push_back(Bottleneck(in, planes, s, down));
        else
          layer->push_back(BasicBlock(in, planes, s, down));
        in = planes * expansion;
      }
      layers.push_back(register_module("layer" + std::to_string(i + 1), layer));
    }
    out_channels = in;
    // torchvision's initialisation.
    for (auto& m : modules(false)) {
      if (auto* c = m->as<torch::nn::Conv2d>())
        torch::nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
      else if (auto* bn = m->as<torch::nn::BatchNorm2d>()) {
        torch::nn::init::ones_(bn->weight);
        torch::nn::init::zeros_(bn->bias);
      }
    }
  }
  torch::Tensor stem(const torch::Tensor& x) {
    auto y = torch::relu(bn1(conv1(x)));
    return small_stem ? y : torch::max_pool2d(y, 3, 2, 1);
  }
  bool small_stem, bottleneck = false;
  int64_t out_channels = 0;
  Conv2d conv1{nullptr};
  BatchNorm2d bn1{nullptr};
  std::vector<torch::nn::Sequential> layers;
};
TORCH_MODULE(ResNet);

class ResNetBackbone : public featjnd::Backbone {
 public:
  explicit ResNetBackbone(const featjnd::Params& p)
      : net_(std::stoi(p.text("arch").substr(6)), p.integer("width"), p.integer("in_channels"), p.text("stem") == "small"),
        neck_fpn_(p.text("neck") == "fpn"),
        split_layer3_(p.text("split") == "layer3"),
        weights_(p.text("weights")),
        strict_(p.flag("strict")) {
    if (neck_fpn_) {
      // Stage widths: width·2^i, times 4 for the bottleneck ResNet-50.
      std::vector<int64_t> in;
      for (int i = 0; i < 4; ++i) in.push_back((p.integer("width") << i) * (net_->bottleneck ? 4 : 1));
      // torchvision.ops.FeaturePyramidNetwork as in maskrcnn_resnet50_fpn (backbone.fpn.*).
      fpn_ = net_->register_module(
          "fpn", featjnd::plugins::FeaturePyramid(in, p.integer("fpn_channels"), featjnd::plugins::FpnNames::torchvision));
    }
  }

  std::string weights_path() const override { return weights_; }
  bool weights_strict() const override { return strict_; }

  torch::nn::Module& module() override { return *net_; }

  featjnd::Features forward(const torch::Tensor& images) override {
    if (neck_fpn_) {  // the detection split: the five FPN levels
      auto levels = fpn_->forward(forward_stages(images).levels);
      return {levels, featjnd::plugins::fpn_level_names()};
    }
    auto x = net_->stem(images);
    for (size_t i = 0; i < (split_layer3_ ? 3u : 4u); ++i) x = net_->layers[i]->forward(x);
    return {{x}, {split_layer3_ ? "layer3" : "layer4"}};
  }

  featjnd::Features forward_stages(const torch::Tensor& images) override {
    featjnd::Features f;
    auto x = net_->stem(images);
    for (size_t i = 0; i < 4; ++i) {
      x = net_->layers[i]->forward(x);
      f.levels.push_back(x);
      f.names.push_back("layer" + std::to_string(i + 1));
    }
    return f;
  }

  featjnd::Features tail(const featjnd::Features& f) override {
    if (!split_layer3_) return f;
    return {{net_->layers[3]->forward(f.levels.at(0))}, {"layer4"}};
  }

 private:
  ResNet net_;
  bool neck_fpn_;
  featjnd::plugins::FeaturePyramid fpn_{nullptr};
  bool split_layer3_;
  std::string weights_;
  bool strict_;
};

// The split changes which tensor is "the feature", not the network: a task network prepared once
// serves both splits, hence FIT | EVALUATE only.
const featjnd_param_info kParams[] = {
    featjnd::param("arch", "string", "\"resnet18\"", "torchvision architecture", FEATJND_STAGE_ALL, -HUGE_VAL,
                   HUGE_VAL, "resnet18|resnet34|resnet50"),
    featjnd::param("width", "int", "64", "channels of layer1 (torchvision: 64; smaller for quick runs)",
                   FEATJND_STAGE_ALL, 1, 1024),
    featjnd::param("stem", "string", "\"imagenet\"", "imagenet: 7x7/2 conv + max-pool; small: 3x3/1 conv, no pool",
                   FEATJND_STAGE_ALL, -HUGE_VAL, HUGE_VAL, "imagenet|small"),
    featjnd::param("in_channels", "int", "3", "input channels (1 for grey images)", FEATJND_STAGE_ALL, 1, 3),
    featjnd::param("split", "string", "\"layer4\"",
                   "layer4: backbone output (paper); layer3: before the last stage, layer4 joins the head",
                   FEATJND_STAGE_FIT | FEATJND_STAGE_EVALUATE, -HUGE_VAL, HUGE_VAL, "layer4|layer3"),
    featjnd::param("neck", "string", "\"none\"",
                   "none, or fpn: torchvision's FPN (fpn.*) over layer1-4, the split becomes its 5 levels",
                   FEATJND_STAGE_ALL, -HUGE_VAL, HUGE_VAL, "none|fpn"),
    featjnd::param("fpn_channels", "int", "256", "FPN output channels", FEATJND_STAGE_ALL, 1, 4096),
    featjnd::param("weights", "path", "\"\"",
                   "torchvision classifier weights (safetensors, tools/export_weights.py); empty: the task trains",
                   FEATJND_STAGE_PREPARE),
    featjnd::param("strict", "bool", "true", "every key of the weights file must match the model", FEATJND_STAGE_PREPARE),
};

}  // namespace

FEATJND_PLUGIN("backbone", "resnet", "1.0", "ResNet-18/34/50 with torchvision state-dict names", kParams,
               ResNetBackbone)
