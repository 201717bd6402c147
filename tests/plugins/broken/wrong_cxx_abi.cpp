// Test-only: a plugin compiled with the other libstdc++ string ABI (_GLIBCXX_USE_CXX11_ABI=0, as
// older pip wheels of LibTorch were); its std::string would not be the engine's, so the host must
// refuse it from the plain-C record before any C++ object crosses.
#include <torch/version.h>

#include "featjnd/plugin_api.h"

extern "C" __attribute__((visibility("default"))) const featjnd_plugin_info* featjnd_plugin_entry(void) {
  static const featjnd_plugin_info info = {sizeof(featjnd_plugin_info), FEATJND_PLUGIN_API_VERSION, "0.1.0",
                                           TORCH_VERSION, "distortion", "old-abi", "1.0", "built with the pre-C++11 string ABI",
                                           0, nullptr, nullptr, FEATJND_CXX_ABI};
  return &info;
}
