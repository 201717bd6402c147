#include "feature_codec.h"

#include <chrono>
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

std::vector<int32_t> to_symbols(const torch::Tensor& rounded) {
  const double lim = std::numeric_limits<int32_t>::max();
  auto t = rounded.detach().to(torch::kCPU, torch::kDouble).clamp(-lim - 1, lim).to(torch::kInt).contiguous();
  return std::vector<int32_t>(t.data_ptr<int32_t>(), t.data_ptr<int32_t>() + t.numel());
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
  auto decoded = codec::decode(bytes.data(), bytes.size());
  auto t2 = Clock::now();
  tally.encode_seconds += std::chrono::duration<double>(t1 - t0).count();
  tally.decode_seconds += std::chrono::duration<double>(t2 - t1).count();
  tally.bytes += double(sizes.total);
  tally.side += double(sizes.side);
  for (auto& sh : s.shapes) tally.elements += double(sh.elements());
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
