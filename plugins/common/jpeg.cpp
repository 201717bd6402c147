#include "featjnd_plugins/jpeg.h"

#include <fmt/format.h>
#include <turbojpeg.h>

#include <fstream>
#include <iterator>
#include <stdexcept>
#include <vector>

#include <torch/torch.h>

namespace featjnd::plugins {

torch::Tensor decode_jpeg(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("cannot read image '{}'", path));
  std::vector<unsigned char> buf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  tjhandle tj = tjInitDecompress();
  if (!tj) throw std::runtime_error("libjpeg-turbo: cannot initialise a decompressor");
  int w = 0, h = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(tj, buf.data(), static_cast<unsigned long>(buf.size()), &w, &h, &subsamp, &colorspace) != 0) {
    std::string msg = tjGetErrorStr2(tj);
    tjDestroy(tj);
    throw std::runtime_error(fmt::format("'{}' is not a readable JPEG: {}", path, msg));
  }
  const bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
  auto pixels = torch::empty({h, w, cmyk ? 4 : 3}, torch::kUInt8);
  int rc = tjDecompress2(tj, buf.data(), static_cast<unsigned long>(buf.size()), pixels.data_ptr<uint8_t>(), w, 0, h,
                         cmyk ? TJPF_CMYK : TJPF_RGB, TJFLAG_ACCURATEDCT);
  // Warnings ("corrupt JPEG data: extraneous bytes", as in a few ImageNet files) keep the image,
  // as PIL does; only fatal errors fail the run.
  const bool fatal = rc != 0 && tjGetErrorCode(tj) != TJERR_WARNING;
  std::string msg = fatal ? tjGetErrorStr2(tj) : "";
  tjDestroy(tj);
  if (fatal) throw std::runtime_error(fmt::format("'{}' could not be decoded: {}", path, msg));
  if (cmyk) {  // Adobe's inverted CMYK, as the few such ImageNet files are: RGB = C·K/255 …
    auto f = pixels.to(torch::kFloat);
    auto k = f.select(2, 3).unsqueeze(2);
    pixels = (f.slice(2, 0, 3) * k / 255.0).round().clamp(0, 255).to(torch::kUInt8);
  }
  return pixels.permute({2, 0, 1}).contiguous();
}

}  // namespace featjnd::plugins
