#pragma once
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/errors.h"

namespace featjnd {

class PluginRegistry;
struct PluginRecord;

// Every problem found in a spec, one line each: "<json pointer>: <what was expected>".
class SpecError : public UserError {
 public:
  SpecError(std::string file, std::vector<std::string> problems);
  const std::vector<std::string>& problems() const { return problems_; }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::vector<std::string> problems_;
};

struct ComponentSpec {
  std::string name;  // the key under /components
  std::string kind;  // inferred from the stage role that uses it
  std::string plugin;
  nlohmann::json params = nlohmann::json::object();  // as written (defaults not filled)
};

struct StageSpec {
  std::string name;
  std::string type;   // prepare | fit | evaluate
  std::string after;  // upstream stage, empty for prepare
  std::string backbone, task, distortion;  // component names (roles)
};

// One sweep axis: either a parameter of one component, a whole alternative component (param
// empty), or the global seed (component empty).
struct SweepAxis {
  std::string component;
  std::string param;
  std::vector<nlohmann::json> values;
  std::string key() const;  // "gaussian.sigma", "backbone", "seed"
};

struct Spec {
  std::string file;
  std::string name;
  std::string description;
  int64_t seed = 0;
  std::vector<std::string> devices{"cpu"};
  std::string database;  // resolved path
  std::map<std::string, ComponentSpec> components;
  std::vector<StageSpec> stages;  // upstream before downstream
  std::vector<SweepAxis> axes;
  nlohmann::json raw;
  std::string hash;  // sha256 of the canonical JSON

  const StageSpec* stage(const std::string& name) const;
};

std::string json_pointer_escape(const std::string& token);

// Parses and validates completely; throws SpecError listing every problem.
Spec parse_spec(const nlohmann::json& doc, const std::string& file, const PluginRegistry& plugins);
Spec load_spec(const std::string& path, const PluginRegistry& plugins);

// Devices: "cpu" or "cuda:N"; returns an empty string when fine, else what was expected.
std::string check_device(const std::string& device);

}  // namespace featjnd
