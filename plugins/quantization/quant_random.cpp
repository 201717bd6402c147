#include "token_quantization.h"

using featjnd::quant::Guide;
using featjnd::quant::kRandomParams;
using QuantRandom = featjnd::quant::TokenQuantizationWith<Guide::random>;

FEATJND_PLUGIN("distortion", "quant-random", "1.2",
               "token-wise quantization, the FeatJND step values permuted over tokens (seeded)",
               kRandomParams, QuantRandom)
