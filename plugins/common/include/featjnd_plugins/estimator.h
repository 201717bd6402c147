#pragma once
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "featjnd/components.h"

namespace featjnd::plugins {

// The FeatJND estimator E of PAPER.md: 3×3 convolutions throughout — conv C→W, norm, ReLU,
// `blocks` residual blocks (conv–norm–act–conv–norm + skip), conv W→C — its output clamped to
// [−c, c]. One E is shared by all feature levels.
struct EstimatorConfig {
  int64_t channels = 0;
  int64_t width = 256;
  int64_t blocks = 2;
  std::string norm = "batch";  // batch | group | none
  double clamp = 10.0;

  nlohmann::json to_json() const;
  static EstimatorConfig from_json(const nlohmann::json& j);
};

struct ResidualBlockImpl : torch::nn::Module {
  ResidualBlockImpl(int64_t width, const std::string& norm);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::AnyModule norm1, norm2;
};
TORCH_MODULE(ResidualBlock);

struct EstimatorImpl : torch::nn::Module {
  explicit EstimatorImpl(const EstimatorConfig& config);
  torch::Tensor forward(const torch::Tensor& feature);  // J for one level, clamped
  Features forward(const Features& features);           // J for every level
  EstimatorConfig config;
  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  torch::nn::AnyModule norm_in;
  torch::nn::ModuleList blocks;
};
TORCH_MODULE(Estimator);

// Saved as safetensors weights plus a JSON file with the configuration, both run artifacts.
void save_estimator(Estimator& e, RunContext& ctx);
Estimator load_estimator(const RunContext& ctx, torch::Device device);
constexpr const char* kEstimatorWeights = "featjnd-estimator.safetensors";
constexpr const char* kEstimatorConfig = "featjnd-estimator.json";

}  // namespace featjnd::plugins
