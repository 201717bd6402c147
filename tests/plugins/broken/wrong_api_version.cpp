// Test-only: a handshake announcing a plugin API this engine does not speak. The host must refuse
// it from the plain-C record alone.
#include <torch/version.h>

#include "featjnd/plugin_api.h"

extern "C" __attribute__((visibility("default"))) const featjnd_plugin_info* featjnd_plugin_entry(void) {
  static const featjnd_plugin_info info = {sizeof(featjnd_plugin_info), 999u, "0.0.0", TORCH_VERSION,
                                           "distortion", "future", "9.9", "built for API 999", 0, nullptr, nullptr, FEATJND_CXX_ABI};
  return &info;
}
