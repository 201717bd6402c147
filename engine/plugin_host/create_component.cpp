// The one place the host turns a plugin's factory result into a C++ object; kept apart because
// it needs the LibTorch-based interfaces, while the registry itself does not.
#include <string_view>

#include <fmt/format.h>
#include <torch/version.h>

#include "featjnd/components.h"
#include "featjnd/torch_version.h"
#include "plugin_host/plugin_registry.h"

namespace featjnd {

// The registry checks plugins against the version CMake recorded; it must be the LibTorch these
// objects are compiled with.
static_assert(std::string_view(TORCH_VERSION) == std::string_view(FEATJND_TORCH_VERSION),
              "generated featjnd/torch_version.h disagrees with <torch/version.h>: reconfigure");

std::unique_ptr<Component> PluginRegistry::create(const PluginRecord& plugin,
                                                  const nlohmann::json& params) const {
  char err[1024] = {0};
  std::string text = params.dump();
  void* obj = plugin.info->create(text.c_str(), err, sizeof(err));
  if (!obj)
    throw std::runtime_error(fmt::format("{} plugin '{}' could not be created: {}", plugin.kind,
                                         plugin.name, err[0] ? err : "no reason given"));
  return std::unique_ptr<Component>(static_cast<Component*>(obj));
}

}  // namespace featjnd
