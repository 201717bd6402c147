// What a plugin author includes: the handshake, the interfaces, a typed view of parameters and
// FEATJND_PLUGIN(...), which writes the exported entry point.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/version.h>

#include "featjnd/components.h"
#include "featjnd/plugin_api.h"
#include "featjnd/version.h"

namespace featjnd {

// Resolved parameters as the host passes them: every declared name is present.
class Params {
 public:
  explicit Params(const char* json) : json_(nlohmann::json::parse(json)) {}
  explicit Params(nlohmann::json json) : json_(std::move(json)) {}

  double real(const std::string& key) const { return at(key).get<double>(); }
  int64_t integer(const std::string& key) const { return at(key).get<int64_t>(); }
  bool flag(const std::string& key) const { return at(key).get<bool>(); }
  std::string text(const std::string& key) const { return at(key).get<std::string>(); }
  const nlohmann::json& at(const std::string& key) const {
    auto it = json_.find(key);
    if (it == json_.end()) throw std::invalid_argument("missing parameter '" + key + "'");
    return *it;
  }
  const nlohmann::json& json() const { return json_; }

 private:
  nlohmann::json json_;
};

constexpr featjnd_param_info param(const char* name, const char* type, const char* default_json,
                                   const char* doc, uint32_t stages = FEATJND_STAGE_ALL,
                                   double min = -HUGE_VAL, double max = HUGE_VAL,
                                   const char* choices = nullptr) {
  return featjnd_param_info{name, type, default_json, doc, min, max, choices, stages};
}

namespace detail {
template <class T>
void* create_component(const char* params_json, char* error_buf, size_t error_buf_size) {
  // Exceptions must not cross the C entry point.
  try {
    Component* c = new T(Params(params_json));
    return c;
  } catch (const std::exception& e) {
    if (error_buf && error_buf_size) std::snprintf(error_buf, error_buf_size, "%s", e.what());
  } catch (...) {
    if (error_buf && error_buf_size) std::snprintf(error_buf, error_buf_size, "unknown exception");
  }
  return nullptr;
}
}  // namespace detail

}  // namespace featjnd

// KIND: "backbone" | "task" | "distortion"; PARAMS: a static array of featjnd_param_info;
// CLASS: a featjnd::Backbone/Task/Distortion with a constructor taking featjnd::Params.
#define FEATJND_PLUGIN(KIND, NAME, VERSION, DESCRIPTION, PARAMS, CLASS)                      \
  extern "C" __attribute__((visibility("default"))) const featjnd_plugin_info*              \
  featjnd_plugin_entry(void) {                                                              \
    static const featjnd_plugin_info info = {                                               \
        sizeof(featjnd_plugin_info), FEATJND_PLUGIN_API_VERSION, FEATJND_ENGINE_VERSION,      \
        TORCH_VERSION, KIND, NAME, VERSION, DESCRIPTION,                                    \
        static_cast<uint32_t>(sizeof(PARAMS) / sizeof(featjnd_param_info)), PARAMS,          \
        &featjnd::detail::create_component<CLASS>, FEATJND_CXX_ABI};                        \
    return &info;                                                                           \
  }
