#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "plugin_host/plugin_registry.h"

namespace featjnd::test {

// The toy plugins of tests/plugins/good, loaded once.
inline const PluginRegistry& toy_plugins() {
  static PluginRegistry reg = [] {
    PluginRegistry r;
    r.load_dirs({FEATJND_TEST_PLUGIN_DIR "/good"});
    return r;
  }();
  return reg;
}

// A complete, valid spec over the toy plugins: 1 prepare, 2 fits (λ), 6 fitted evaluations
// (λ × α), 6 noise evaluations (σ × seed).
inline nlohmann::json toy_spec() {
  return nlohmann::json::parse(R"({
    "name": "toy",
    "components": {
      "backbone": {"plugin": "toy-conv"},
      "task": {"plugin": "toy-classify", "params": {"epochs": 1}},
      "noise": {"plugin": "toy-noise"},
      "fitted": {"plugin": "toy-fit"}
    },
    "stages": [
      {"name": "prepare", "type": "prepare", "backbone": "backbone", "task": "task"},
      {"name": "fit", "type": "fit", "after": "prepare", "distortion": "fitted"},
      {"name": "eval-fit", "type": "evaluate", "after": "fit", "distortion": "fitted"},
      {"name": "eval-noise", "type": "evaluate", "after": "prepare", "distortion": "noise"}
    ],
    "sweep": {
      "fitted": {"lambda": [0.1, 1.0], "alpha": [0.5, 1, 2]},
      "noise": {"sigma": [0.1, 0.2], "seed": [0, 1, 2]}
    }
  })");
}

}  // namespace featjnd::test
