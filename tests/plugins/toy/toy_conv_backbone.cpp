// Test-only backbone: one strided conv, optionally followed by pooled copies so that the engine's
// multi-level (FPN-like) feature path is exercised.
#include <torch/torch.h>

#include "featjnd/plugin.h"

namespace {

struct ToyConvImpl : torch::nn::Module {
  explicit ToyConvImpl(int64_t channels) {
    conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, channels, 3).stride(2).padding(1)));
  }
  torch::nn::Conv2d conv1{nullptr};
};
TORCH_MODULE(ToyConv);

class ToyConvBackbone : public featjnd::Backbone {
 public:
  explicit ToyConvBackbone(const featjnd::Params& p)
      : net_(p.integer("channels")), levels_(p.integer("levels")) {}
  torch::nn::Module& module() override { return *net_; }
  featjnd::Features forward(const torch::Tensor& images) override {
    featjnd::Features f;
    auto x = torch::relu(net_->conv1(images));
    for (int64_t l = 0; l < levels_; ++l) {
      f.levels.push_back(x);
      f.names.push_back(std::to_string(l));
      x = torch::avg_pool2d(x, 2, 2, 0, true);
    }
    return f;
  }

 private:
  ToyConv net_;
  int64_t levels_;
};

const featjnd_param_info kParams[] = {
    featjnd::param("channels", "int", "4", "output channels", FEATJND_STAGE_ALL, 1, 64),
    featjnd::param("levels", "int", "1", "feature levels returned", FEATJND_STAGE_ALL, 1, 5),
};

}  // namespace

FEATJND_PLUGIN("backbone", "toy-conv", "1.0", "test backbone: one strided 3x3 conv", kParams, ToyConvBackbone)
