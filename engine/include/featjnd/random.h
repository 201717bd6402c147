// Seeded random numbers drawn where the tensors live.
#pragma once

#include <cstdint>

#include <ATen/Context.h>
#include <torch/types.h>

namespace featjnd {

// A fresh generator for `device`, of the device's own kind (a CUDA generator for a CUDA device),
// seeded with `seed`: noise drawn with it never crosses the bus. It is a copy of the device's
// default generator, so the global random state is left as it was. On the CPU it draws the same
// numbers as at::detail::createCPUGenerator(seed); another device type draws other numbers.
inline at::Generator seeded_generator(torch::Device device, uint64_t seed) {
  at::Generator gen = at::globalContext().defaultGenerator(device).clone();
  gen.set_current_seed(seed);
  return gen;
}

}  // namespace featjnd
