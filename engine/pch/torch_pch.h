// Precompiled once, reused by every LibTorch target (a TU including <torch/torch.h> costs ~15 s).
#pragma once
#include <torch/torch.h>
#include <nlohmann/json.hpp>
