#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "featjnd/plugin_api.h"

namespace featjnd {

class Component;

struct ParamSpec {
  std::string name;
  std::string type;  // float | int | bool | string | path | json
  std::optional<nlohmann::json> default_value;  // nullopt: required
  std::string doc;
  double min = -HUGE_VAL;
  double max = HUGE_VAL;
  std::vector<std::string> choices;
  uint32_t stages = FEATJND_STAGE_ALL;

  // Empty when `value` is acceptable, else what was expected ("a number in [0, 1]").
  std::string check(const nlohmann::json& value) const;
  std::string describe_type() const;
};

struct PluginRecord {
  std::string kind;  // backbone | task | distortion
  std::string name;
  std::string version;
  std::string description;
  std::string file;  // canonical path of the shared object
  uint32_t api_version = 0;
  std::string engine_version;
  std::string torch_version;
  std::vector<ParamSpec> params;
  const featjnd_plugin_info* info = nullptr;

  const ParamSpec* param(const std::string& name) const;
  std::string param_names() const;  // "a, b, c" for error messages
};

// Loads plugin shared objects permanently: a library is never unloaded while the process lives,
// so no object, vtable or exception created by a plugin can outlive its code (Boost.DLL misuses).
class PluginRegistry {
 public:
  // The build's (or installation's) plugin folder, FEATJND_PLUGIN_PATH, then `extra`.
  static std::vector<std::string> search_dirs(const std::vector<std::string>& extra,
                                              bool include_default = true);

  // Scans each folder for shared objects. Problems are collected, one line each.
  void load_dirs(const std::vector<std::string>& dirs);
  void load_file(const std::string& path);

  const std::vector<std::string>& errors() const { return errors_; }
  const std::vector<PluginRecord>& plugins() const { return plugins_; }
  const PluginRecord* find(const std::string& kind, const std::string& name) const;
  std::vector<std::string> names_of_kind(const std::string& kind) const;

  // `params` must hold every declared parameter; throws std::runtime_error with the plugin's
  // own message when its factory fails.
  std::unique_ptr<Component> create(const PluginRecord& plugin, const nlohmann::json& params) const;

  // Fills defaults into `user` (validated beforehand by the spec checker).
  static nlohmann::json resolve_params(const PluginRecord& plugin, const nlohmann::json& user);

 private:
  std::vector<PluginRecord> plugins_;
  std::vector<std::string> errors_;
};

std::string executable_dir();

}  // namespace featjnd
