#include "token_quantization.h"

using featjnd::quant::Guide;
using featjnd::quant::kGuidedParams;
using QuantFeatJND = featjnd::quant::TokenQuantizationWith<Guide::featjnd>;

FEATJND_PLUGIN(
    "distortion", "quant-featjnd", "1.3",
    "token-wise quantization, step per token from the FeatJND map (needs a fitted featjnd upstream)",
    kGuidedParams, QuantFeatJND)
