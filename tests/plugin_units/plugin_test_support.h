// Helpers shared by the plugin test files: the build's plugins loaded as the engine loads them,
// a RunContext over a temporary folder, the parity tests' relative difference.
#pragma once

#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

#include <torch/torch.h>

#include "featjnd/components.h"
#include "plugin_host/plugin_registry.h"

namespace featjnd::test {

namespace fs = std::filesystem;

inline const PluginRegistry& loaded_plugins() {
  static PluginRegistry reg = [] {
    PluginRegistry r;
    r.load_dirs({FEATJND_BUILD_PLUGIN_DIR});
    return r;
  }();
  return reg;
}

template <class T>
std::unique_ptr<T> make(const std::string& kind, const std::string& name, nlohmann::json params) {
  const auto* rec = loaded_plugins().find(kind, name);
  REQUIRE(rec);
  auto c = loaded_plugins().create(*rec, PluginRegistry::resolve_params(*rec, params));
  auto* t = dynamic_cast<T*>(c.get());
  REQUIRE(t);
  c.release();
  return std::unique_ptr<T>(t);
}

// A real RunContext over a temporary folder (what the worker provides, minus the database).
class TestContext : public RunContext {
 public:
  TestContext() : dir_(fs::temp_directory_path() / ("featjnd-plugin-test-" + std::to_string(getpid()))) {
    fs::create_directories(dir_);
  }
  ~TestContext() override { fs::remove_all(dir_); }
  torch::Device device() const override { return torch::kCPU; }
  uint64_t seed() const override { return 3; }
  void log_metric(const std::string& key, double value, int64_t) override { metrics[key].push_back(value); }
  void progress(int64_t, int64_t, const std::string&) override {}
  std::string artifact_path(const std::string& name) override { return (dir_ / name).string(); }
  void add_artifact(const std::string& name, const std::string&) override { artifacts[name] = (dir_ / name).string(); }
  std::string input_artifact(const std::string& name) const override { return artifacts.at(name); }
  bool has_input_artifact(const std::string& name) const override { return artifacts.count(name) != 0; }
  std::map<std::string, std::vector<double>> metrics;
  std::map<std::string, std::string> artifacts;

 private:
  fs::path dir_;
};

// The folder of torchvision references that tests/integration/test_parity.sh writes; a parity case
// run without it fails (it never passes by comparing nothing).
inline const char* parity_dir() {
  const char* dir = std::getenv("FEATJND_PARITY_DIR");
  REQUIRE_MESSAGE(dir != nullptr, "FEATJND_PARITY_DIR is not set: parity cases run from tests/integration/test_parity.sh");
  return dir;
}

// max |a − r| / max |r|: the parity tests' relative difference.
inline double rel_diff(const torch::Tensor& a, const torch::Tensor& r) {
  return ((a - r).abs().max() / r.abs().max()).item<double>();
}

}  // namespace featjnd::test
