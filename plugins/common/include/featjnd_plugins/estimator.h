#pragma once
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "featjnd/components.h"

namespace featjnd::plugins {

// The FeatJND estimator E of PAPER.md: 3×3 convolutions throughout — conv C→W, norm, ReLU,
// `blocks` residual blocks (conv–norm–act–conv–norm + skip), conv W→C — its output clamped to
// [−c, c]. One E is shared by all feature levels.
//
// Normalisation and FPN levels: the five levels differ in scale, so one BatchNorm shared by them
// trains on each level's own batch statistics but evaluates with running statistics mixed over
// the levels — the J evaluated would not be the J trained. With `norm: batch` each level has its
// own BatchNorm (the convolutions stay shared); group and none hold no statistics.
struct EstimatorConfig {
  int64_t channels = 0;
  int64_t width = 256;
  int64_t blocks = 2;
  std::string norm = "group";  // group | batch | none
  double clamp = 10.0;
  int64_t levels = 1;  // feature levels the estimator serves (5 for an FPN)

  nlohmann::json to_json() const;
  static EstimatorConfig from_json(const nlohmann::json& j);
};

// One normalisation per feature level (batch), or one for all (group, none): norms.{i}.*.
struct LevelNormImpl : torch::nn::Module {
  LevelNormImpl(const std::string& kind, int64_t width, int64_t levels);
  torch::Tensor forward(const torch::Tensor& x, size_t level);
  torch::nn::ModuleList norms;
};
TORCH_MODULE(LevelNorm);

struct ResidualBlockImpl : torch::nn::Module {
  ResidualBlockImpl(int64_t width, const std::string& norm, int64_t levels);
  torch::Tensor forward(const torch::Tensor& x, size_t level);
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  LevelNorm norm1{nullptr}, norm2{nullptr};
};
TORCH_MODULE(ResidualBlock);

struct EstimatorImpl : torch::nn::Module {
  explicit EstimatorImpl(const EstimatorConfig& config);
  torch::Tensor forward(const torch::Tensor& feature, size_t level = 0);  // J for one level, clamped
  Features forward(const Features& features);                            // J for every level
  EstimatorConfig config;
  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  LevelNorm norm_in{nullptr};
  torch::nn::ModuleList blocks;
};
TORCH_MODULE(Estimator);

// m(J) of PAPER.md's loss over every level: `elements` weighs each element alike (the levels as
// one tensor, so the 1/256-size `pool` level counts for its size); `levels` is the mean of the
// per-level means, each level weighing the same.
torch::Tensor mean_abs(const Features& j, const std::string& weighting);

// Saved as safetensors weights plus a JSON file with the configuration, both run artifacts.
void save_estimator(Estimator& e, RunContext& ctx);
Estimator load_estimator(const RunContext& ctx, torch::Device device);
// A few features and the J the fitted estimator computes for them ("feature.<i>", "J.<i>" per
// level i; the level names in the metadata): what `featjnd-engine export-estimator` checks its
// package against, and what a user's port of the estimator can be checked against.
void save_estimator_sample(Estimator& e, const Features& features, RunContext& ctx);
constexpr const char* kEstimatorWeights = "featjnd-estimator.safetensors";
constexpr const char* kEstimatorConfig = "featjnd-estimator.json";
constexpr const char* kEstimatorSample = "featjnd-estimator-sample.safetensors";

}  // namespace featjnd::plugins
