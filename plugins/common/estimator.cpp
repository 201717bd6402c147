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
  return {{"channels", channels}, {"width", width}, {"blocks", blocks}, {"norm", norm}, {"clamp", clamp}, {"levels", levels}};
}

EstimatorConfig EstimatorConfig::from_json(const nlohmann::json& j) {
  EstimatorConfig c;
  c.channels = j.at("channels").get<int64_t>();
  c.width = j.at("width").get<int64_t>();
  c.blocks = j.at("blocks").get<int64_t>();
  c.norm = j.at("norm").get<std::string>();
  c.clamp = j.at("clamp").get<double>();
  c.levels = j.value("levels", int64_t(1));
  return c;
}

LevelNormImpl::LevelNormImpl(const std::string& kind, int64_t width, int64_t levels) {
  norms = register_module("norms", torch::nn::ModuleList());
  const int64_t n = kind == "batch" ? std::max<int64_t>(1, levels) : 1;
  for (int64_t i = 0; i < n; ++i) norms->push_back(make_norm(kind, width).ptr());
}

torch::Tensor LevelNormImpl::forward(const torch::Tensor& x, size_t level) {
  const size_t i = std::min(level, norms->size() - 1);
  auto m = norms[i];
  if (auto* bn = m->as<torch::nn::BatchNorm2d>()) return bn->forward(x);
  if (auto* gn = m->as<torch::nn::GroupNorm>()) return gn->forward(x);
  return x;
}

ResidualBlockImpl::ResidualBlockImpl(int64_t width, const std::string& norm, int64_t levels) {
  conv1 = register_module("conv1", conv3x3(width, width));
  norm1 = register_module("norm1", LevelNorm(norm, width, levels));
  conv2 = register_module("conv2", conv3x3(width, width));
  norm2 = register_module("norm2", LevelNorm(norm, width, levels));
}

torch::Tensor ResidualBlockImpl::forward(const torch::Tensor& x, size_t level) {
  auto y = torch::relu(norm1->forward(conv1(x), level));
  y = norm2->forward(conv2(y), level);
  return torch::relu(x + y);
}

EstimatorImpl::EstimatorImpl(const EstimatorConfig& c) : config(c) {
  conv_in = register_module("conv_in", conv3x3(c.channels, c.width));
  norm_in = register_module("norm_in", LevelNorm(c.norm, c.width, c.levels));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.blocks; ++i) blocks->push_back(ResidualBlock(c.width, c.norm, c.levels));
  conv_out = register_module("conv_out", conv3x3(c.width, c.channels));
}

torch::Tensor EstimatorImpl::forward(const torch::Tensor& f, size_t level) {
  auto x = torch::relu(norm_in->forward(conv_in(f), level));
  for (auto& b : *blocks) x = b->as<ResidualBlock>()->forward(x, level);
  // The clamp keeps J bounded early in training, when D is flat and only −λ·m(J) pulls.
  return torch::clamp(conv_out(x), -config.clamp, config.clamp);
}

Features EstimatorImpl::forward(const Features& features) {
  if (static_cast<int64_t>(features.levels.size()) != config.levels)
    throw std::runtime_error(fmt::format("FeatJND estimator: fitted on {} feature levels, given {}", config.levels,
                                         features.levels.size()));
  Features j;
  j.names = features.names;
  j.image_sizes = features.image_sizes;
  for (size_t l = 0; l < features.levels.size(); ++l) j.levels.push_back(forward(features.levels[l], l));
  return j;
}

torch::Tensor mean_abs(const Features& j, const std::string& weighting) {
  if (j.levels.empty()) throw std::invalid_argument("m(J): no feature levels");
  if (weighting == "levels") {
    auto m = j.levels[0].abs().mean();
    for (size_t l = 1; l < j.levels.size(); ++l) m = m + j.levels[l].abs().mean();
    return m / static_cast<double>(j.levels.size());
  }
  if (weighting != "elements") throw std::invalid_argument("m(J) weighting '" + weighting + "'; expected elements or levels");
  auto sum = j.levels[0].abs().sum();
  int64_t n = j.levels[0].numel();
  for (size_t l = 1; l < j.levels.size(); ++l) {
    sum = sum + j.levels[l].abs().sum();
    n += j.levels[l].numel();
  }
  return sum / static_cast<double>(std::max<int64_t>(n, 1));
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

void save_estimator_sample(Estimator& e, const Features& features, RunContext& ctx) {
  torch::NoGradGuard no_grad;
  const auto j = e->forward(features);
  std::map<std::string, torch::Tensor> tensors;
  nlohmann::json names = nlohmann::json::array();
  for (size_t l = 0; l < features.levels.size(); ++l) {
    tensors["feature." + std::to_string(l)] = features.levels[l].detach().cpu().contiguous();
    tensors["J." + std::to_string(l)] = j.levels[l].cpu().contiguous();
    names.push_back(l < features.names.size() ? features.names[l] : std::to_string(l));
  }
  write_safetensors(ctx.artifact_path(kEstimatorSample), tensors, {{"levels", names.dump()}});
  ctx.add_artifact(kEstimatorSample, "estimator-sample");
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
