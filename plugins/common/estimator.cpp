#include "featjnd_plugins/estimator.h"

#include <fstream>

#include <fmt/format.h>

#include "featjnd_plugins/safetensors.h"

namespace featjnd::plugins {
namespace {

torch::nn::AnyModule make_norm(const std::string& kind, int64_t width) {
  if (kind == "batch") return torch::nn::AnyModule(torch::nn::BatchNorm2d(width));
  if (kind == "group") {
    int64_t groups = std::min<int64_t>(32, width);
    while (width % groups) --groups;
    return torch::nn::AnyModule(torch::nn::GroupNorm(groups, width));
  }
  if (kind == "none") return torch::nn::AnyModule(torch::nn::Identity());
  throw std::invalid_argument(fmt::format("unknown norm '{}'; expected batch, group or none", kind));
}

torch::nn::Conv2d conv3x3(int64_t in, int64_t out) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1));
}

}  // namespace

nlohmann::json EstimatorConfig::to_json() const {
  return {{"channels", channels}, {"width", width}, {"blocks", blocks}, {"norm", norm}, {"clamp", clamp}};
}

EstimatorConfig EstimatorConfig::from_json(const nlohmann::json& j) {
  EstimatorConfig c;
  c.channels = j.at("channels").get<int64_t>();
  c.width = j.at("width").get<int64_t>();
  c.blocks = j.at("blocks").get<int64_t>();
  c.norm = j.at("norm").get<std::string>();
  c.clamp = j.at("clamp").get<double>();
  return c;
}

ResidualBlockImpl::ResidualBlockImpl(int64_t width, const std::string& norm) {
  conv1 = register_module("conv1", conv3x3(width, width));
  norm1 = make_norm(norm, width);
  register_module("norm1", norm1.ptr());
  conv2 = register_module("conv2", conv3x3(width, width));
  norm2 = make_norm(norm, width);
  register_module("norm2", norm2.ptr());
}

torch::Tensor ResidualBlockImpl::forward(const torch::Tensor& x) {
  auto y = torch::relu(norm1.forward(conv1(x)));
  y = norm2.forward(conv2(y));
  return torch::relu(x + y);
}

EstimatorImpl::EstimatorImpl(const EstimatorConfig& c) : config(c) {
  conv_in = register_module("conv_in", conv3x3(c.channels, c.width));
  norm_in = make_norm(c.norm, c.width);
  register_module("norm_in", norm_in.ptr());
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.blocks; ++i) blocks->push_back(ResidualBlock(c.width, c.norm));
  conv_out = register_module("conv_out", conv3x3(c.width, c.channels));
}

torch::Tensor EstimatorImpl::forward(const torch::Tensor& f) {
  auto x = torch::relu(norm_in.forward(conv_in(f)));
  for (auto& b : *blocks) x = b->as<ResidualBlock>()->forward(x);
  // The clamp keeps J bounded early in training, when D is flat and only −λ·m(J) pulls.
  return torch::clamp(conv_out(x), -config.clamp, config.clamp);
}

Features EstimatorImpl::forward(const Features& features) {
  Features j;
  j.names = features.names;
  for (auto& l : features.levels) j.levels.push_back(forward(l));
  return j;
}

void save_estimator(Estimator& e, RunContext& ctx) {
  std::map<std::string, torch::Tensor> tensors;
  for (auto& p : e->named_parameters(true)) tensors[p.key()] = p.value();
  for (auto& b : e->named_buffers(true)) tensors[b.key()] = b.value();
  write_safetensors(ctx.artifact_path(kEstimatorWeights), tensors);
  ctx.add_artifact(kEstimatorWeights, "estimator");
  {
    std::ofstream out(ctx.artifact_path(kEstimatorConfig));
    out << e->config.to_json().dump(2) << "\n";
  }
  ctx.add_artifact(kEstimatorConfig, "estimator-config");
}

Estimator load_estimator(const RunContext& ctx, torch::Device device) {
  std::ifstream in(ctx.input_artifact(kEstimatorConfig));
  auto config = EstimatorConfig::from_json(nlohmann::json::parse(in));
  Estimator e(config);
  load_state_dict(*e, SafeTensors::read(ctx.input_artifact(kEstimatorWeights)), "", true);
  e->to(device);
  e->eval();
  for (auto& p : e->parameters()) p.set_requires_grad(false);
  return e;
}

}  // namespace featjnd::plugins
