#include "plugin_host/plugin_registry.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include <boost/dll/shared_library.hpp>
#include <fmt/format.h>
#include "featjnd/torch_version.h"

#include "core/errors.h"
#include "featjnd/version.h"

namespace fs = std::filesystem;

namespace featjnd {
namespace {

// Deliberately leaked: destroying a shared_library would dlclose() it.
std::vector<boost::dll::shared_library>& loaded_libraries() {
  static auto* libs = new std::vector<boost::dll::shared_library>();
  return *libs;
}

std::string fmt_num(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return fmt::format("{}", v);
}

bool looks_like_shared_object(const fs::path& p) {
  auto name = p.filename().string();
  return p.extension() == ".so" || name.find(".so.") != std::string::npos;
}

std::string safe(const char* s) { return s ? std::string(s) : std::string(); }

}  // namespace

std::string executable_dir() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : p.parent_path().string();
}

std::string ParamSpec::describe_type() const {
  if (type == "float" || type == "int") {
    std::string what = type == "float" ? "a number" : "an integer";
    if (std::isinf(min) && std::isinf(max)) return what;
    return fmt::format("{} in [{}, {}]", what, fmt_num(min), fmt_num(max));
  }
  if (type == "bool") return "true or false";
  if (type == "string" && !choices.empty()) {
    std::string s = "one of ";
    for (size_t i = 0; i < choices.size(); ++i) s += (i ? ", " : "") + ("\"" + choices[i] + "\"");
    return s;
  }
  if (type == "string") return "a string";
  if (type == "path") return "a file path (string)";
  return "any JSON value";
}

std::string ParamSpec::check(const nlohmann::json& v) const {
  auto expected = describe_type();
  if (type == "float") {
    if (!v.is_number()) return expected;
    double x = v.get<double>();
    if (!(x >= min && x <= max)) return expected;
  } else if (type == "int") {
    if (!v.is_number_integer()) return expected;
    double x = static_cast<double>(v.get<int64_t>());
    if (!(x >= min && x <= max)) return expected;
  } else if (type == "bool") {
    if (!v.is_boolean()) return expected;
  } else if (type == "string" || type == "path") {
    if (!v.is_string()) return expected;
    if (!choices.empty() &&
        std::find(choices.begin(), choices.end(), v.get<std::string>()) == choices.end())
      return expected;
  }
  return {};
}

const ParamSpec* PluginRecord::param(const std::string& n) const {
  for (auto& p : params)
    if (p.name == n) return &p;
  return nullptr;
}

std::string PluginRecord::param_names() const {
  std::string s;
  for (size_t i = 0; i < params.size(); ++i) s += (i ? ", " : "") + params[i].name;
  return s.empty() ? "(none)" : s;
}

std::vector<std::string> PluginRegistry::search_dirs(const std::vector<std::string>& extra,
                                                     bool include_default) {
  std::vector<std::string> dirs;
  if (include_default) {
    // Build tree: plugins/ beside the executable; installed: <prefix>/lib/featjnd/plugins.
    fs::path exe = executable_dir();
    for (auto cand : {exe / "plugins", exe.parent_path() / "lib" / "featjnd" / "plugins"})
      if (fs::is_directory(cand)) dirs.push_back(cand.string());
  }
  if (const char* env = std::getenv("FEATJND_PLUGIN_PATH")) {
    std::stringstream ss(env);
    std::string item;
    while (std::getline(ss, item, ':'))
      if (!item.empty()) dirs.push_back(item);
  }
  for (auto& d : extra) dirs.push_back(d);
  return dirs;
}

void PluginRegistry::load_dirs(const std::vector<std::string>& dirs) {
  for (auto& d : dirs) {
    std::error_code ec;
    if (!fs::is_directory(d, ec)) {
      errors_.push_back(fmt::format("plugin folder '{}' does not exist or is not a folder", d));
      continue;
    }
    std::vector<fs::path> files;
    for (auto& e : fs::directory_iterator(d, ec))
      if (e.is_regular_file() && looks_like_shared_object(e.path())) files.push_back(e.path());
    std::sort(files.begin(), files.end());  // deterministic order, hence deterministic errors
    for (auto& f : files) load_file(f.string());
  }
}

namespace {

// The plain C fields of the record, before any C++ object crosses: its size, the plugin API,
// LibTorch and C++ library ABI it was built with. Empty when they fit this engine.
std::string handshake_problem(const featjnd_plugin_info* info, const std::string& path) {
  constexpr size_t v1_size = offsetof(featjnd_plugin_info, create) + sizeof(void*);
  if (!info || info->info_size < v1_size)
    return fmt::format("'{}' returned an invalid plugin info record (size {}, expected at least {})", path,
                       info ? info->info_size : 0, v1_size);
  const std::string torch_v = safe(info->torch_version);
  if (info->api_version != FEATJND_PLUGIN_API_VERSION || torch_v != FEATJND_TORCH_VERSION)
    return fmt::format(
        "plugin '{}' was built for plugin API {} and LibTorch {} (engine {}); this engine expects plugin API {} and "
        "LibTorch {}: rebuild the plugin against featjnd-engine {}",
        path, info->api_version, torch_v, safe(info->engine_version), FEATJND_PLUGIN_API_VERSION, FEATJND_TORCH_VERSION,
        FEATJND_ENGINE_VERSION);
  // API 4 records the C++ library ABI; the struct has grown, so the size check comes first.
  constexpr size_t v4_size = offsetof(featjnd_plugin_info, cxx_abi) + sizeof(const char*);
  const std::string abi = info->info_size >= v4_size ? safe(info->cxx_abi) : std::string("(not recorded)");
  if (abi != FEATJND_CXX_ABI)
    return fmt::format(
        "plugin '{}' was built with the C++ library ABI '{}'; this engine uses '{}' (std::string would not match): "
        "rebuild the plugin with the engine's compiler flags (featjnd_add_plugin sets them)",
        path, abi, FEATJND_CXX_ABI);
  return {};
}

// One declared parameter; throws std::invalid_argument naming what is wrong.
ParamSpec param_of(const featjnd_param_info& pi, const std::string& path) {
  static const std::vector<std::string> types = {"float", "int", "bool", "string", "path", "json"};
  ParamSpec ps;
  ps.name = safe(pi.name);
  ps.type = safe(pi.type);
  ps.doc = safe(pi.doc);
  ps.min = pi.min;
  ps.max = pi.max;
  ps.stages = pi.stages;
  if (pi.choices) {
    std::stringstream ss(pi.choices);
    for (std::string c; std::getline(ss, c, '|');) ps.choices.push_back(c);
  }
  if (std::find(types.begin(), types.end(), ps.type) == types.end())
    throw std::invalid_argument(fmt::format("plugin '{}' parameter '{}' has unknown type '{}'", path, ps.name, ps.type));
  if (pi.default_json) {
    auto d = nlohmann::json::parse(pi.default_json, nullptr, false);
    if (d.is_discarded() || !ps.check(d).empty())
      throw std::invalid_argument(
          fmt::format("plugin '{}' parameter '{}' has an invalid default '{}'", path, ps.name, pi.default_json));
    ps.default_value = d;
  }
  return ps;
}

// The record a plugin declares, checked: its kind, a name and a factory, its parameters.
PluginRecord record_of(const featjnd_plugin_info* info, const std::string& path) {
  PluginRecord r;
  r.kind = safe(info->kind);
  r.name = safe(info->name);
  r.version = safe(info->version);
  r.description = safe(info->description);
  r.file = path;
  r.api_version = info->api_version;
  r.engine_version = safe(info->engine_version);
  r.torch_version = safe(info->torch_version);
  r.info = info;
  if (r.kind != "backbone" && r.kind != "task" && r.kind != "distortion")
    throw std::invalid_argument(
        fmt::format("plugin '{}' declares kind '{}'; expected backbone, task or distortion", path, r.kind));
  if (r.name.empty() || !info->create)
    throw std::invalid_argument(fmt::format("plugin '{}' has an empty name or no factory", path));
  for (uint32_t i = 0; i < info->param_count; ++i) r.params.push_back(param_of(info->params[i], path));
  return r;
}

}  // namespace

void PluginRegistry::load_file(const std::string& path_in) {
  std::error_code ec;
  std::string path = fs::weakly_canonical(path_in, ec).string();
  if (ec) path = path_in;
  for (auto& p : plugins_)
    if (p.file == path) return;  // the same file reached through two folders

  boost::dll::shared_library lib;
  try {
    lib.load(path, boost::dll::load_mode::rtld_lazy | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    errors_.push_back(fmt::format("'{}' is not a loadable shared object ({})", path, e.what()));
    return;
  }
  const bool is_plugin = lib.has(FEATJND_PLUGIN_ENTRY_SYMBOL);
  const featjnd_plugin_info* info =
      is_plugin ? lib.get<const featjnd_plugin_info*()>(FEATJND_PLUGIN_ENTRY_SYMBOL)() : nullptr;
  loaded_libraries().push_back(std::move(lib));  // never unloaded
  if (!is_plugin) {
    errors_.push_back(fmt::format("'{}' is not a featjnd plugin: it does not export '{}' (build it with "
                                  "featjnd_add_plugin and FEATJND_PLUGIN(...))",
                                  path, FEATJND_PLUGIN_ENTRY_SYMBOL));
    return;
  }
  if (auto problem = handshake_problem(info, path); !problem.empty()) {
    errors_.push_back(problem);
    return;
  }
  PluginRecord r;
  try {
    r = record_of(info, path);
  } catch (const std::invalid_argument& e) {
    errors_.push_back(e.what());
    return;
  }
  for (auto& p : plugins_)
    if (p.kind == r.kind && p.name == r.name) {
      errors_.push_back(fmt::format("two {} plugins are named '{}': '{}' and '{}'; remove one or take its folder off "
                                    "the plugin path",
                                    r.kind, r.name, p.file, r.file));
      return;
    }
  plugins_.push_back(std::move(r));
}

const PluginRecord* PluginRegistry::find(const std::string& kind, const std::string& name) const {
  for (auto& p : plugins_)
    if (p.kind == kind && p.name == name) return &p;
  return nullptr;
}

std::vector<std::string> PluginRegistry::names_of_kind(const std::string& kind) const {
  std::vector<std::string> out;
  for (auto& p : plugins_)
    if (p.kind == kind) out.push_back(p.name);
  std::sort(out.begin(), out.end());
  return out;
}

nlohmann::json PluginRegistry::resolve_params(const PluginRecord& plugin,
                                              const nlohmann::json& user) {
  nlohmann::json out = nlohmann::json::object();
  for (auto& p : plugin.params) {
    auto it = user.find(p.name);
    if (it != user.end())
      out[p.name] = *it;
    else if (p.default_value)
      out[p.name] = *p.default_value;
    else
      throw UserError(fmt::format("{} plugin '{}' needs parameter '{}'", plugin.kind, plugin.name,
                                  p.name));
  }
  return out;
}

}  // namespace featjnd
