#pragma once
// How a worker computes, as the spec's /execution sets it, and how batches travel between the
// host and the device.
#include <cstdint>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "featjnd/components.h"

namespace featjnd {

struct ExecutionOptions {
  bool autocast_bf16 = false;  // "autocast": "bf16"
  bool channels_last = false;
  static ExecutionOptions from_config(const nlohmann::json& run_config);
};

// Autocast to bfloat16 on `device` for the guard's lifetime (torch.autocast's C++ side), the
// previous state restored after; does nothing when `enabled` is false.
class AutocastGuard {
 public:
  AutocastGuard(torch::Device device, bool enabled);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  torch::DeviceType type_;
  bool enabled_, was_enabled_ = false;
  torch::ScalarType was_dtype_ = torch::kBFloat16;
};

// Every 4-D parameter and buffer of `module` (convolution weights) in channels_last layout.
void to_channels_last(torch::nn::Module& module);

// A batch's images and targets on `device`; non_blocking so that a copy from pinned host memory
// overlaps with the device's work (a plain copy where both sides are the CPU). The per-image
// instances stay on the host: evaluators read them element by element.
Batch batch_to(const Batch& batch, torch::Device device);

// A host copy of a batch for the feature cache: on the CPU, in page-locked memory when the
// device is CUDA (what makes the copies back non-blocking).
Batch host_copy(const Batch& batch, torch::Device device);

// The bytes a batch holds (images, targets, per-image instances), as the cache budget counts.
int64_t batch_bytes(const Batch& batch);
int64_t features_bytes(const Features& features);

// bf16 and fp16 tensors in float32 (others unchanged): the features at the split point and the task's outputs
// leave an autocast region in full precision, so distortions, codecs and evaluators see one dtype.
Features float32(Features features);
TensorMap float32(TensorMap outputs);

}  // namespace featjnd
