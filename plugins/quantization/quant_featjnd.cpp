#include "token_quantization.h"

using featjnd::quant::Guide;
using featjnd::quant::kTokenQuantizationParams;
using QuantFeatJND = featjnd::quant::TokenQuantizationWith<Guide::featjnd>;

FEATJND_PLUGIN(
    "distortion", "quant-featjnd", "1.1",
    "token-wise quantization, step per token from the FeatJND map (needs a fitted featjnd upstream)",
    kTokenQuantizationParams, QuantFeatJND)
