#include "inspect/png.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <zlib.h>

namespace featjnd::inspect {
namespace {

void put32(std::string& s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s.push_back(static_cast<char>((v >> shift) & 0xff));
}

// One chunk: length, type, data, CRC-32 of type and data (PNG specification, section 5.3).
void chunk(std::ofstream& out, const char* type, const std::string& data) {
  std::string c;
  put32(c, static_cast<uint32_t>(data.size()));
  c.append(type, 4);
  c += data;
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(c.data() + 4), static_cast<uInt>(c.size() - 4));
  put32(c, static_cast<uint32_t>(crc));
  out.write(c.data(), static_cast<std::streamsize>(c.size()));
}

torch::Tensor as_hwc_uint8(torch::Tensor t) {
  t = t.detach().to(torch::kCPU);
  if (t.dim() == 2) t = t.unsqueeze(2).expand({-1, -1, 3});
  if (t.dim() == 3 && t.size(0) == 3 && t.size(2) != 3) t = t.permute({1, 2, 0});
  if (t.dim() != 3 || t.size(2) != 3) throw std::invalid_argument("write_png: expected H×W×3, 3×H×W or H×W");
  if (t.scalar_type() != torch::kUInt8) t = t.clamp(0, 255).round().to(torch::kUInt8);
  return t.contiguous();
}

}  // namespace

void write_png(const std::string& path, const torch::Tensor& image) {
  auto t = as_hwc_uint8(image);
  const auto h = static_cast<uint32_t>(t.size(0)), w = static_cast<uint32_t>(t.size(1));
  std::string raw;  // each row: filter type 0, then RGB bytes
  raw.reserve(size_t(h) * (size_t(w) * 3 + 1));
  const auto* px = t.data_ptr<uint8_t>();
  for (uint32_t y = 0; y < h; ++y) {
    raw.push_back(0);
    raw.append(reinterpret_cast<const char*>(px + size_t(y) * w * 3), size_t(w) * 3);
  }
  uLongf size = compressBound(static_cast<uLong>(raw.size()));
  std::string packed(size, '\0');
  if (compress2(reinterpret_cast<Bytef*>(packed.data()), &size, reinterpret_cast<const Bytef*>(raw.data()),
                static_cast<uLong>(raw.size()), 6) != Z_OK)
    throw std::runtime_error("write_png: deflate failed for " + path);
  packed.resize(size);
  std::string ihdr;
  put32(ihdr, w);
  put32(ihdr, h);
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // 8 bits, RGB, deflate, no filter method, no interlace
  const auto partial = path + ".partial";
  {
    std::ofstream out(partial, std::ios::binary);
    if (!out) throw std::runtime_error("write_png: cannot write " + partial);
    out.write("\x89PNG\r\n\x1a\n", 8);
    chunk(out, "IHDR", ihdr);
    chunk(out, "IDAT", packed);
    chunk(out, "IEND", "");
    if (!out) throw std::runtime_error("write_png: cannot write " + partial);
  }
  std::filesystem::rename(partial, path);
}

double robust_scale(const torch::Tensor& map) {
  auto flat = map.detach().abs().flatten().to(torch::kCPU, torch::kFloat);
  if (flat.numel() == 0) return 1;
  const int64_t k = std::max<int64_t>(1, static_cast<int64_t>(0.99 * double(flat.numel())));
  const double v = std::get<0>(flat.kthvalue(k)).item<double>();
  return v > 0 ? v : std::max(1e-12, flat.max().item<double>());
}

torch::Tensor colourise(const torch::Tensor& map, const std::string& palette, double scale) {
  auto m = map.detach().to(torch::kCPU, torch::kFloat);
  if (scale <= 0) scale = robust_scale(m);
  torch::Tensor r, g, b;
  if (palette == "heat") {  // black → red → yellow → white
    auto v = (m / scale).clamp(0, 1);
    r = (3 * v).clamp(0, 1), g = (3 * v - 1).clamp(0, 1), b = (3 * v - 2).clamp(0, 1);
  } else if (palette == "diverging") {  // blue ← white → red
    auto v = (m / scale).clamp(-1, 1);
    auto pos = v.clamp_min(0), neg = (-v).clamp_min(0);
    r = 1 - neg, g = 1 - pos - neg, b = 1 - pos;
  } else {
    throw std::invalid_argument("colourise: palette '" + palette + "'; expected heat or diverging");
  }
  return (torch::stack({r, g, b}, 2) * 255).round().to(torch::kUInt8);
}

torch::Tensor blend(const torch::Tensor& image, const torch::Tensor& overlay, double opacity) {
  auto a = as_hwc_uint8(image).to(torch::kFloat), o = as_hwc_uint8(overlay).to(torch::kFloat);
  return ((1 - opacity) * a + opacity * o).round().to(torch::kUInt8);
}

}  // namespace featjnd::inspect
