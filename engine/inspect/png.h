// PNG images for the inspection artifacts (attribution and tolerance maps): 8-bit RGB, written
// with zlib's deflate (the engine already links zlib for the IDX reader; no image library needed).
#pragma once

#include <string>

#include <torch/torch.h>

namespace featjnd::inspect {

// `rgb`: H×W×3 uint8 (or 3×H×W, or H×W grey) on any device. Written to path + ".partial", then
// renamed, so a crash never leaves half a file under the final name.
void write_png(const std::string& path, const torch::Tensor& rgb);

// The 99th percentile of |map| (its maximum when that is 0): a scale that one outlier cannot set.
double robust_scale(const torch::Tensor& map);

// A map (H×W, any range) through a colour map into H×W×3 uint8: values scaled by `scale`
// (0: the map's 99th percentile of |v|) and clipped. "heat": 0 black → yellow-white at 1 (for
// magnitudes); "diverging": −1 blue, 0 white, +1 red (for differences).
torch::Tensor colourise(const torch::Tensor& map, const std::string& palette, double scale = 0);

// `overlay` over an H×W×3 image with the given opacity (0..1): the tolerance over the picture.
torch::Tensor blend(const torch::Tensor& image, const torch::Tensor& overlay, double opacity);

}  // namespace featjnd::inspect
