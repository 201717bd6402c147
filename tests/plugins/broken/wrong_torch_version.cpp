// Test-only: the right plugin API but another LibTorch; C++ objects built against it would not be
// ABI-compatible, so the host must refuse it.
#include "featjnd/plugin_api.h"

extern "C" __attribute__((visibility("default"))) const featjnd_plugin_info* featjnd_plugin_entry(void) {
  static const featjnd_plugin_info info = {sizeof(featjnd_plugin_info), FEATJND_PLUGIN_API_VERSION, "0.1.0", "0.4.1",
                                           "distortion", "old-torch", "1.0", "built for LibTorch 0.4.1", 0, nullptr,
                                           nullptr, FEATJND_CXX_ABI};
  return &info;
}
