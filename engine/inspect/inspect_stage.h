// The `inspect` stage: for the first few evaluation images, where a distortion puts its change
// (the tolerance map ‖ΔF‖₂ over channels on the finest feature level, over the image: paper
// Fig. 9), and Integrated Gradients attributions of the task's decision with respect to the input
// image for the clean network, the network whose split features are distorted (F + α·J: paper
// Fig. 7) and, for comparison, Gaussian noise at the same NRMSE. PNG artifacts per image; per
// image metrics (step = image index): Spearman rank correlation and top-k overlap of the clean
// and distorted attribution maps, IG's convergence deltas.
#pragma once

#include <nlohmann/json.hpp>

#include "featjnd/components.h"

namespace featjnd::inspect {

void run_inspection(Backbone& backbone, Task& task, Distortion& distortion, RunContext& ctx, const nlohmann::json& params);

// Spearman's rank correlation of two equally sized tensors (ties take their average rank).
double spearman(const torch::Tensor& a, const torch::Tensor& b);
// |top-k(a) ∩ top-k(b)| / k with k = ⌈share · n⌉.
double topk_overlap(const torch::Tensor& a, const torch::Tensor& b, double share);

}  // namespace featjnd::inspect
