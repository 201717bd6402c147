#include "feature_codec.h"

#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>

#include <fmt/format.h>

namespace featjnd::quant {

std::map<std::string, double> CodecTally::metrics() const {
  const double b = std::max<int64_t>(1, batches);
  return {{"codec.bytes", bytes},
          {"codec.bits_per_element", elements > 0 ? 8 * bytes / elements : 0},
          {"codec.bpp", pixels > 0 ? 8 * bytes / pixels : 0},
          {"codec.side_share", bytes > 0 ? side / bytes : 0},
          {"codec.encode_ms", 1e3 * encode_seconds / b},
          {"codec.decode_ms", 1e3 * decode_seconds / b}};
}

codec::LevelShape shape_of(const torch::Tensor& f) {
  TORCH_CHECK(f.dim() == 4, "codec: a feature level must be N x C x H x W");
  for (int64_t d : f.sizes()) TORCH_CHECK(d >= 0 && d <= int64_t(UINT32_MAX), "codec: a level dimension beyond 2^32");
  return {static_cast<uint32_t>(f.size(0)), static_cast<uint32_t>(f.size(1)), static_cast<uint32_t>(f.size(2)),
          static_cast<uint32_t>(f.size(3))};
}

std::vector<int32_t> to_symbols(const torch::Tensor& rounded) {
  // Clamped in float to the floats an int32 holds (-2^31 and 2^31 - 128, the largest below 2^31):
  // a double copy of a 21-million-element image costs more than the entropy coder.
  const double lo = -2147483648.0, hi = 2147483520.0;
  auto t = rounded.detach().to(torch::kCPU, torch::kFloat).clamp(lo, hi).to(torch::kInt).contiguous();
  return std::vector<int32_t>(t.data_ptr<int32_t>(), t.data_ptr<int32_t>() + t.numel());
}

namespace {

// round(v), half to even as torch.round: below 2^23 in magnitude by adding and subtracting 2^23
// (exact in the default rounding mode, and it vectorises without SSE4.1); from 2^23 on a float is
// an integer. Then clamped to the floats an int32 holds (NaN to the lower end).
inline float rounded_symbol(float v) {
  const float a = std::fabs(v);
  const float r = a < 8388608.0f ? std::copysign((a + 8388608.0f) - 8388608.0f, v) : v;
  return std::fmin(std::fmax(r, -2147483648.0f), 2147483520.0f);
}

// The per-token steps as a contiguous float32 N×1×H×W on the CPU.
torch::Tensor token_steps(const torch::Tensor& steps, int64_t n, int64_t h, int64_t w) {
  return steps.detach().to(torch::kCPU, torch::kFloat).expand({n, 1, h, w}).contiguous();
}

}  // namespace

TokenSymbols token_symbols(const torch::Tensor& level, const torch::Tensor& steps) {
  const auto f = level.detach().to(torch::kCPU, torch::kFloat).contiguous();
  const int64_t n = f.size(0), c = f.size(1), hw = f.size(2) * f.size(3);
  const auto s = token_steps(steps, n, f.size(2), f.size(3));
  TokenSymbols out;
  out.symbols.resize(static_cast<size_t>(f.numel()));
  const float* pf = f.data_ptr<float>();
  const float* ps = s.data_ptr<float>();
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch) {
      const float* x = pf + (b * c + ch) * hw;
      const float* d = ps + b * hw;
      int32_t* y = out.symbols.data() + (b * c + ch) * hw;
      float squared = 0;  // per row of at most H·W terms, then summed in double
      int64_t zeros = 0;
#pragma omp simd reduction(+ : squared, zeros)
      for (int64_t t = 0; t < hw; ++t) {
        const float r = rounded_symbol(x[t] / d[t]);
        y[t] = static_cast<int32_t>(r);
        const float e = r * d[t] - x[t];
        squared += e * e;
        zeros += r == 0.0f;
      }
      out.squared_error += squared;
      out.zeros += double(zeros);
    }
  return out;
}

torch::Tensor token_dequantized(const std::vector<int32_t>& symbols, const torch::Tensor& steps,
                                const codec::LevelShape& sh) {
  const int64_t n = sh.n, c = sh.c, hw = int64_t(sh.h) * sh.w;
  TORCH_CHECK(symbols.size() == sh.elements(), "codec: a level's symbols do not fill its shape");
  const auto s = token_steps(steps, n, sh.h, sh.w);
  auto out = torch::empty({n, c, int64_t(sh.h), int64_t(sh.w)}, torch::kFloat);
  const float* ps = s.data_ptr<float>();
  float* po = out.data_ptr<float>();
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch) {
      const int32_t* y = symbols.data() + (b * c + ch) * hw;
      const float* d = ps + b * hw;
      float* o = po + (b * c + ch) * hw;
      for (int64_t t = 0; t < hw; ++t) o[t] = static_cast<float>(y[t]) * d[t];
    }
  return out;
}

torch::Tensor from_symbols(const std::vector<int32_t>& symbols, const torch::Tensor& like) {
  return torch::from_blob(const_cast<int32_t*>(symbols.data()), like.sizes(), torch::kInt)
      .to(like.device(), like.scalar_type());
}

codec::Stream round_trip(const codec::Stream& s, double pixels, CodecTally& tally, RunContext* ctx) {
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  codec::Sizes sizes;
  auto bytes = codec::encode(s, &sizes);
  auto t1 = Clock::now();
  // The decoder's bound on what a header may make it allocate is what was just encoded (a COCO
  // batch of 16 at 800x1333 holds 3.6e8 FPN elements, beyond the default bound).
  uint64_t elements = 0;
  for (auto& sh : s.shapes) elements += sh.elements();
  auto decoded = codec::decode(bytes.data(), bytes.size(), std::max<uint64_t>(elements, 1));
  auto t2 = Clock::now();
  tally.encode_seconds += std::chrono::duration<double>(t1 - t0).count();
  tally.decode_seconds += std::chrono::duration<double>(t2 - t1).count();
  tally.bytes += double(sizes.total);
  tally.side += double(sizes.side);
  tally.elements += double(elements);
  tally.pixels += pixels;
  if (ctx && tally.batches == 0) {
    const char* name = "bitstream-batch0.fjnc";
    std::ofstream(ctx->artifact_path(name), std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    ctx->add_artifact(name, "bitstream");
  }
  ++tally.batches;
  return decoded;
}

void check_bit_exact(const torch::Tensor& decoded, const torch::Tensor& quantized, size_t level) {
  if (!torch::equal(decoded, quantized))
    throw std::runtime_error(fmt::format("codec: the decoded level {} differs from the quantizer's output "
                                         "(max difference {})",
                                         level, (decoded - quantized).abs().max().item<double>()));
}

}  // namespace featjnd::quant
