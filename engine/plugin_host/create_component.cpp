// The one place the host turns a plugin's factory result into a C++ object; kept apart because
// it needs the LibTorch-based interfaces, while the registry itself does not.
#include <fmt/format.h>

#include "featjnd/components.h"
#include "plugin_host/plugin_registry.h"

namespace featjnd {

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
