// The feature bitstream: quantized features of one batch, with the side information a decoder
// needs to reproduce the quantizer's output bit for bit.
//
//   "FJNC" | version | method | dtype 0 (float32) | levels | per level: varint N C H W
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
//
// Version 3 (written): the side section's head also holds the step map's block (one log-step per
// block × block tokens, the last row and column of blocks cut by the level's edge) and stride (the
// indices are multiples of it: 1 = 1/8 octave, 8 = whole octaves), and each level's indices, divided
// by the stride, are coded either as they are or as the residuals of a LOCO-I median predictor over
// each sample's block grid — whichever is smaller (the encoder tries both; one byte says which).
// Version 2: each level's sequence has its own interleaved rANS stream
// (codec/interleaved.h: 1, 8 or 32 ways, decoded eight states at a time with AVX2); a section's
// head holds, per level, the table (with its precision, 12 or 15 bits, the encoder's choice), the
// ways, the escaped values (varints) and the stream's length, and the streams follow the head.
// Version 1 (the byte-wise coder of codec/rans.h, one stream per section, escapes inline) still
// decodes; encode(s, sizes, 1) writes it for tests and comparisons.
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
  // The step map's grid with one entry per block × block tokens (edge blocks cut), and its entries.
  uint64_t block_rows(uint32_t block) const { return (uint64_t(h) + block - 1) / block; }
  uint64_t block_cols(uint32_t block) const { return (uint64_t(w) + block - 1) / block; }
  uint64_t blocks(uint32_t block) const { return uint64_t(n) * block_rows(block) * block_cols(block); }
};

struct Stream {
  Method method = Method::uniform;
  std::vector<LevelShape> shapes;
  std::vector<std::vector<int32_t>> symbols;    // per level, N·C·H·W
  std::vector<std::vector<int32_t>> log_steps;  // guided, random: per level, N·⌈H/block⌉·⌈W/block⌉
  float step = 0;                               // uniform: Δ; guided, random: the base step
  uint8_t step_block = 1;                       // guided, random: tokens per block side (1: per token)
  uint8_t step_stride = 1;                      // guided, random: every log-step is a multiple of it
  float low = 0, high = 0;                      // min-max: the global range
  uint8_t bits = 10;                            // min-max: bits per code
};

struct Sizes {
  size_t total = 0, side = 0;  // bytes; side: header and side section
};

constexpr uint8_t kVersion = 3;

// `simd`: let versions 2 and 3 encode with AVX2 where the CPU has it (the same bytes; false: the
// scalar encoder).
std::vector<uint8_t> encode(const Stream& s, Sizes* sizes = nullptr, uint8_t version = kVersion, bool simd = true);
// Versions 1 and 2 carry per-token steps at stride 1 only.
// Refuses, with one CodecError naming the part and the reason, anything but a complete, valid
// bitstream of version 1, 2 or 3; `max_elements` bounds what a header may make it allocate. `simd`:
// let version 2's decoder use AVX2 where the CPU has it (false: the scalar decoder).
Stream decode(const uint8_t* data, size_t size, uint64_t max_elements = uint64_t(1) << 28, bool simd = true);

// The static table the encoder codes a sequence with: its values' window (at most 4096 wide,
// centred on the mean when they spread wider) with their counts; values outside are escaped.
// `bits` 0: version 2's choice, 12 bits unless 15 would code the values 0.5 % smaller.
Model table_for(const std::vector<int32_t>& values, uint32_t bits = kProbBits);

// The step of a token: base · 2^(q/8), computed from exact constants so that every machine gets
// the same float; and the index q nearest to a step among the multiples of `stride` (encoder side
// only).
float token_step(float base, int32_t q);
int32_t log_step_index(float step, float base, int32_t stride = 1);

// The LOCO-I median predictor (JPEG-LS) over each of n grids of h × w values, in raster order:
// residuals v − prediction, and back. Exact on any int32 input (the arithmetic wraps like uint32).
std::vector<int32_t> median_residuals(const std::vector<int32_t>& v, uint64_t n, uint64_t h, uint64_t w);
void undo_median_residuals(std::vector<int32_t>& r, uint64_t n, uint64_t h, uint64_t w);

}  // namespace featjnd::codec
