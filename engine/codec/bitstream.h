// The feature bitstream: quantized features of one batch, with the side information a decoder
// needs to reproduce the quantizer's output bit for bit.
//
//   "FJNC" | version 1 | method | dtype 0 (float32) | levels | per level: varint N C H W
//   side section:    varint length, then: the method's numbers (uniform: the step, float32;
//                    min-max: low, high (float32) and bits; guided and random: the base step, then
//                    per level a probability table and, rANS-coded, each token's log-step index q,
//                    the step being base · 2^(q/8))
//   payload section: varint length, then per level a probability table and, rANS-coded, the
//                    symbols round(F/Δ_t) (min-max: the N-bit codes) in N, C, H, W order
//   CRC-32 (zlib's) of everything before it, 4 bytes little-endian
//
// Tables are static per level and section (two passes: count, then code), signalled as their
// alphabet's start and size and the frequencies − 1 with runs of 1s collapsed.
#pragma once

#include <cstdint>
#include <vector>

#include "codec/rans.h"

namespace featjnd::codec {

enum class Method : uint8_t { guided = 0, random = 1, uniform = 2, minmax = 3 };

struct LevelShape {
  uint32_t n = 0, c = 0, h = 0, w = 0;
  uint64_t elements() const { return uint64_t(n) * c * h * w; }
  uint64_t tokens() const { return uint64_t(n) * h * w; }
};

struct Stream {
  Method method = Method::uniform;
  std::vector<LevelShape> shapes;
  std::vector<std::vector<int32_t>> symbols;    // per level, N·C·H·W
  std::vector<std::vector<int32_t>> log_steps;  // guided, random: per level, N·H·W
  float step = 0;                               // uniform: Δ; guided, random: the base step
  float low = 0, high = 0;                      // min-max: the global range
  uint8_t bits = 10;                            // min-max: bits per code
};

struct Sizes {
  size_t total = 0, side = 0;  // bytes; side: header and side section
};

constexpr uint8_t kVersion = 1;

std::vector<uint8_t> encode(const Stream& s, Sizes* sizes = nullptr);
// Refuses, with one CodecError naming the part and the reason, anything but a complete, valid
// bitstream of this version; `max_elements` bounds what a header may make it allocate.
Stream decode(const uint8_t* data, size_t size, uint64_t max_elements = uint64_t(1) << 28);

// The step of a token: base · 2^(q/8), computed from exact constants so that every machine gets
// the same float; and the index q nearest to a step (encoder side only).
float token_step(float base, int32_t q);
int32_t log_step_index(float step, float base);

}  // namespace featjnd::codec
