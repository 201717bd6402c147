// libFuzzer target: the safetensors header check (plugins/common/safetensors_header.cpp) on
// arbitrary bytes taken as a whole file. Anything malformed must end in std::runtime_error (one
// message); what passes must satisfy what the tensor reader then trusts without checking again:
// every tensor's bytes lie inside the data section, equal its element count times its element
// size, and the tensors tile the section. A crash, a sanitizer report, a hang or a broken
// invariant (a trap) is a bug.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "featjnd_plugins/safetensors_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  featjnd::plugins::SafeTensorsHeader header;
  try {
    header = featjnd::plugins::parse_safetensors_header(bytes, size, "fuzzed.safetensors");
  } catch (const std::runtime_error&) {
    return 0;
  }
  if (header.data_start < 8 || header.data_start > size) __builtin_trap();
  const uint64_t data_len = size - header.data_start;
  uint64_t covered = 0;
  for (const auto& [name, e] : header.entries) {
    uint64_t numel = 1;
    for (int64_t d : e.shape) {
      if (d < 0) __builtin_trap();
      if (d != 0 && numel > UINT64_MAX / static_cast<uint64_t>(d)) __builtin_trap();
      numel *= static_cast<uint64_t>(d);
    }
    if (e.begin > e.end || e.end > data_len) __builtin_trap();
    if (e.element_size == 0 || e.end - e.begin != numel * e.element_size) __builtin_trap();
    covered += e.end - e.begin;
  }
  if (covered != data_len) __builtin_trap();
  return 0;
}
