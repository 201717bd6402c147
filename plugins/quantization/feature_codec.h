// The quantizers' codec mode (engine/codec): symbols and steps of a batch to a bitstream and back,
// the decoded features checked against the quantizer's own output, and what it cost in bytes,
// bits and time.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "codec/bitstream.h"
#include "featjnd/components.h"

namespace featjnd::quant {

// Running totals over an evaluation.
struct CodecTally {
  double bytes = 0, side = 0, elements = 0, pixels = 0, encode_seconds = 0, decode_seconds = 0;
  int64_t batches = 0;
  // codec.bytes, codec.bits_per_element, codec.bpp (8·bytes / input pixels), codec.side_share,
  // codec.encode_ms and codec.decode_ms per batch.
  std::map<std::string, double> metrics() const;
};

// A level's N, C, H, W as the bitstream records them (sizes checked to fit 32 bits).
codec::LevelShape shape_of(const torch::Tensor& level);

// Codec mode's token quantizer in one pass over a level on the CPU, float32: the symbols
// round(F/Δ_t) (half to even, as torch.round; clamped to int32) of an N×C×H×W level with its
// per-token steps (N×1×H×W, > 0), and of F_q = symbol·Δ_t the zero symbols and Σ(F_q − F)².
struct TokenSymbols {
  std::vector<int32_t> symbols;
  double zeros = 0, squared_error = 0;
};
TokenSymbols token_symbols(const torch::Tensor& level, const torch::Tensor& steps);
// F_q = symbol·Δ_t (float32, N×C×H×W, on the CPU): what the quantizer's symbols stand for, the same
// float on both sides of a bitstream.
torch::Tensor token_dequantized(const std::vector<int32_t>& symbols, const torch::Tensor& steps,
                                const codec::LevelShape& shape);

// round(F/Δ) (already rounded, as floats) as the codec's int32 symbols, N·C·H·W order.
std::vector<int32_t> to_symbols(const torch::Tensor& rounded);
torch::Tensor from_symbols(const std::vector<int32_t>& symbols, const torch::Tensor& like);

// Encodes, decodes, adds to the tally; the first batch's bitstream becomes the artifact
// "bitstream-batch0.fjnc" when `ctx` is given.
codec::Stream round_trip(const codec::Stream& s, double pixels, CodecTally& tally, RunContext* ctx);

// Stops an evaluation whose decoded features differ from the quantizer's own output.
void check_bit_exact(const torch::Tensor& decoded, const torch::Tensor& quantized, size_t level);

}  // namespace featjnd::quant
