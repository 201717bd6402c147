#include "featjnd_plugins/fpn.h"

#include <stdexcept>
#include <string>

namespace featjnd::plugins {

namespace {

// mmdetection's ConvModule without norm or activation: the conv sits under `.conv`.
struct ConvModuleImpl : torch::nn::Module {
  explicit ConvModuleImpl(torch::nn::Conv2d c) : conv(register_module("conv", c)) {}
  torch::nn::Conv2d conv;
};
TORCH_MODULE(ConvModule);

}  // namespace

FeaturePyramidImpl::FeaturePyramidImpl(const std::vector<int64_t>& in_channels, int64_t out_channels, FpnNames names) {
  if (in_channels.empty()) throw std::invalid_argument("FPN: no input levels");
  torch::nn::ModuleList lateral_list, output_list;
  for (auto c : in_channels) {
    lateral.emplace_back(torch::nn::Conv2dOptions(c, out_channels, 1));
    output.emplace_back(torch::nn::Conv2dOptions(out_channels, out_channels, 3).padding(1));
    if (names == FpnNames::torchvision) {
      lateral_list->push_back(torch::nn::Sequential(lateral.back()));
      output_list->push_back(torch::nn::Sequential(output.back()));
    } else {
      lateral_list->push_back(ConvModule(lateral.back()));
      output_list->push_back(ConvModule(output.back()));
    }
  }
  const bool tv = names == FpnNames::torchvision;
  register_module(tv ? "inner_blocks" : "lateral_convs", lateral_list);
  register_module(tv ? "layer_blocks" : "fpn_convs", output_list);
  // torchvision: kaiming_uniform(a=1), zero bias; mmdetection's xavier-uniform is the same bound
  // up to a constant, and trained weights replace either.
  for (auto* group : {&lateral, &output})
    for (auto& conv : *group) {
      torch::nn::init::kaiming_uniform_(conv->weight, 1.0);
      torch::nn::init::zeros_(conv->bias);
    }
}

std::vector<torch::Tensor> FeaturePyramidImpl::forward(const std::vector<torch::Tensor>& stages) {
  const size_t n = stages.size();
  if (n != lateral.size())
    throw std::invalid_argument("FPN: " + std::to_string(n) + " stage outputs, expected " + std::to_string(lateral.size()));
  auto last = lateral[n - 1](stages[n - 1]);
  std::vector<torch::Tensor> out(n + 1);
  out[n - 1] = output[n - 1](last);
  for (size_t k = n - 1; k-- > 0;) {
    auto up = torch::nn::functional::interpolate(
        last, torch::nn::functional::InterpolateFuncOptions()
                  .size(std::vector<int64_t>{stages[k].size(2), stages[k].size(3)})
                  .mode(torch::kNearest));
    last = lateral[k](stages[k]) + up;
    out[k] = output[k](last);
  }
  out[n] = torch::max_pool2d(out[n - 1], 1, 2, 0);
  return out;
}

}  // namespace featjnd::plugins
