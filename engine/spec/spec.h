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
  std::string type;   // prepare | fit | evaluate | inspect
  std::string after;  // upstream stage, empty for prepare
  std::string backbone, task, distortion;  // component names (roles)
  nlohmann::json params = nlohmann::json::object();  // inspect: resolved (defaults filled)
};

// The parameters of an `inspect` stage (attribution and tolerance maps of a few evaluation
// images), each with its default; `check_inspect_params` fills them in or names what is wrong.
nlohmann::json inspect_param_defaults();

// What one sweep axis sets: a parameter of a component, a whole alternative component (param
// empty), or the global seed (component empty).
struct SweepTarget {
  std::string component;
  std::string param;
  std::string key() const;  // "gaussian.sigma", "backbone", "seed"
};

// One axis of the grid. A plain sweep sets one target; a case group (/cases) sets several targets
// that vary together, one point per case.
struct SweepAxis {
  std::string name;  // the target's key, or the case group's name
  std::vector<SweepTarget> targets;
  std::vector<std::vector<nlohmann::json>> points;  // per point, one value per target
  std::vector<std::string> point_labels;            // per point: the value, or the case's name
  size_t size() const { return points.size(); }
};

// A `--set PATH=VALUE` override: PATH is a JSON pointer (/components/task/params/root) or a
// dotted path (components.task.params.root); VALUE is JSON, or a string when it is not JSON.
struct Override {
  std::string path;
  std::string pointer;  // the JSON pointer it resolved to
  nlohmann::json value;
};

// Applies overrides to a spec document in order; throws SpecError naming the override that does
// not fit (a missing parent, an index out of range).
std::vector<Override> apply_overrides(nlohmann::json& doc, const std::vector<std::string>& assignments,
                                      const std::string& file);

struct Spec {
  std::string file;
  std::string name;
  std::string description;
  int64_t seed = 0;
  std::vector<std::string> devices{"cpu"};
  std::string database;  // resolved path
  // /execution: how tensors are computed, in every stage (a run's identity holds it when it is
  // not the default): {"autocast": "off" | "bf16", "channels_last": bool}.
  nlohmann::json execution = nlohmann::json::object();
  std::map<std::string, ComponentSpec> components;
  std::vector<StageSpec> stages;  // upstream before downstream
  std::vector<SweepAxis> axes;
  std::vector<std::string> axis_pointers;  // where each axis is written (/sweep/..., /cases/...)
  nlohmann::json raw;  // after the overrides
  std::vector<Override> overrides;
  std::string hash;  // sha256 of the canonical JSON

  const StageSpec* stage(const std::string& name) const;
};

std::string json_pointer_escape(const std::string& token);

// Parses and validates completely; throws SpecError listing every problem.
Spec parse_spec(const nlohmann::json& doc, const std::string& file, const PluginRegistry& plugins);
Spec load_spec(const std::string& path, const PluginRegistry& plugins, const std::vector<std::string>& overrides = {});

// Devices: "cpu", "cpu:N" or "cuda:N"; returns an empty string when fine, else what was expected.
std::string check_device(const std::string& device);
// A device list as --devices gives it: not empty, every entry a device, none twice (cpu = cpu:0);
// returns an empty string when fine, else the problem.
std::string check_devices(const std::vector<std::string>& devices);

}  // namespace featjnd
