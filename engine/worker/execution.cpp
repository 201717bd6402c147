#include "worker/execution.h"

#include <ATen/autocast_mode.h>

namespace featjnd {

ExecutionOptions ExecutionOptions::from_config(const nlohmann::json& run_config) {
  ExecutionOptions o;
  auto it = run_config.find("execution");
  if (it == run_config.end()) return o;
  o.autocast_bf16 = it->value("autocast", std::string("off")) == "bf16";
  o.channels_last = it->value("channels_last", false);
  return o;
}

AutocastGuard::AutocastGuard(torch::Device device, bool enabled) : type_(device.type()), enabled_(enabled) {
  if (!enabled_) return;
  if (type_ != torch::kCPU && type_ != torch::kCUDA)
    throw std::runtime_error("autocast: bf16 is available on CPU and CUDA devices only");
  // The device-type API (LibTorch >= 2.4, the minimum CMake asks for).
  was_enabled_ = at::autocast::is_autocast_enabled(type_);
  was_dtype_ = at::autocast::get_autocast_dtype(type_);
  at::autocast::set_autocast_dtype(type_, torch::kBFloat16);
  at::autocast::set_autocast_enabled(type_, true);
}

AutocastGuard::~AutocastGuard() {
  if (!enabled_) return;
  // Casts cached for the region's weights must not outlive it (torch.autocast does the same).
  at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(type_, was_enabled_);
  at::autocast::set_autocast_dtype(type_, was_dtype_);
}

void to_channels_last(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  auto convert = [](torch::Tensor& t) {
    if (t.defined() && t.dim() == 4) t.set_data(t.contiguous(torch::MemoryFormat::ChannelsLast));
  };
  for (auto& p : module.parameters(true)) convert(p);
  for (auto& b : module.buffers(true)) convert(b);
}

namespace {

template <class F>
Batch map_batch(const Batch& batch, F&& f, bool instances) {
  Batch out;
  out.images = batch.images.defined() ? f(batch.images) : batch.images;
  for (auto& [k, t] : batch.targets) out.targets[k] = f(t);
  if (!instances) {
    out.instances = batch.instances;
    return out;
  }
  for (auto& inst : batch.instances) {
    TensorMap m;
    for (auto& [k, t] : inst) m[k] = f(t);
    out.instances.push_back(std::move(m));
  }
  return out;
}

int64_t bytes_of(const torch::Tensor& t) {
  return t.defined() ? t.numel() * static_cast<int64_t>(t.element_size()) : 0;
}

}  // namespace

Batch batch_to(const Batch& batch, torch::Device device) {
  return map_batch(
      batch, [&](const torch::Tensor& t) { return t.to(device, /*non_blocking=*/true); },
      /*instances=*/false);
}

Batch host_copy(const Batch& batch, torch::Device device) {
  const bool pin = device.is_cuda();
  return map_batch(
      batch,
      [&](const torch::Tensor& t) {
        auto h = t.to(torch::kCPU);
        return pin ? h.pin_memory() : h;
      },
      /*instances=*/true);
}

int64_t batch_bytes(const Batch& batch) {
  int64_t n = bytes_of(batch.images);
  for (auto& [k, t] : batch.targets) n += bytes_of(t);
  for (auto& inst : batch.instances)
    for (auto& [k, t] : inst) n += bytes_of(t);
  return n;
}

int64_t features_bytes(const Features& features) {
  int64_t n = bytes_of(features.image_sizes);
  for (auto& l : features.levels) n += bytes_of(l);
  return n;
}

namespace {
bool reduced(const torch::Tensor& t) {
  return t.defined() && (t.scalar_type() == torch::kBFloat16 || t.scalar_type() == torch::kHalf);
}
}  // namespace

Features float32(Features features) {
  for (auto& l : features.levels)
    if (reduced(l)) l = l.to(torch::kFloat);
  return features;
}

TensorMap float32(TensorMap outputs) {
  for (auto& [k, t] : outputs)
    if (reduced(t)) t = t.to(torch::kFloat);
  return outputs;
}

}  // namespace featjnd
