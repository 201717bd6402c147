#pragma once
#include <string>

#include <torch/types.h>

namespace featjnd::plugins {

// Decodes a JPEG file with libjpeg-turbo to a 3×H×W uint8 RGB tensor (CMYK converted; libjpeg
// warnings keep the image, as PIL does). Throws naming the file.
torch::Tensor decode_jpeg(const std::string& path);

}  // namespace featjnd::plugins
