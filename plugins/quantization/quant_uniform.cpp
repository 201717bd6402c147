#include "token_quantization.h"

using featjnd::quant::Guide;
using featjnd::quant::kUniformParams;
using QuantUniform = featjnd::quant::TokenQuantizationWith<Guide::uniform>;

FEATJND_PLUGIN("distortion", "quant-uniform", "1.3", "uniform quantization, one step sqrt(12)*sigma_q",
               kUniformParams, QuantUniform)
