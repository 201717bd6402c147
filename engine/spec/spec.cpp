#include "spec/spec.h"

#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "core/sha256.h"
#include "featjnd/json_limits.h"
#include "plugin_host/plugin_registry.h"

namespace featjnd {

namespace {
// One line however many problems: the first three in full, then how many more. A spec with
// thousands of unknown keys must not bury the terminal.
std::string one_line(const std::string& file, const std::vector<std::string>& problems) {
  if (problems.empty()) return file + ": invalid spec";
  std::string line = file + ":" + problems.front();
  const size_t shown = std::min<size_t>(problems.size(), 3);
  for (size_t i = 1; i < shown; ++i) line += "; " + problems[i];
  if (problems.size() > shown) line += fmt::format("; and {} more problems", problems.size() - shown);
  return line;
}
}  // namespace

SpecError::SpecError(std::string file, std::vector<std::string> problems)
    : UserError(one_line(file, problems)), file_(std::move(file)), problems_(std::move(problems)) {}

std::string SweepTarget::key() const {
  if (component.empty()) return "seed";
  return param.empty() ? component : component + "." + param;
}

const StageSpec* Spec::stage(const std::string& n) const {
  for (auto& s : stages)
    if (s.name == n) return &s;
  return nullptr;
}

std::string json_pointer_escape(const std::string& token) {
  std::string out;
  for (char c : token) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

std::string check_device(const std::string& d) {
  const std::string expected = "\"cpu\", \"cpu:N\" (N < 256: one worker per N, the cores shared) or \"cuda:N\" (N < 1024)";
  if (d == "cpu") return {};
  const bool cpu = d.rfind("cpu:", 0) == 0, cuda = d.rfind("cuda:", 0) == 0;
  if (!cpu && !cuda) return expected;
  const auto digits = d.substr(cpu ? 4 : 5);
  // Digits only, parsed without std::stoi (which throws "stoi" past INT_MAX).
  if (digits.empty() || digits.size() > 4 || digits.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(digits) >= (cpu ? 256 : 1024))
    return expected;
  return {};
}

std::string check_devices(const std::vector<std::string>& devices) {
  if (devices.empty()) return "no device given; expected a comma-separated list such as cpu or cuda:0,cuda:1";
  std::set<std::string> seen;
  for (size_t i = 0; i < devices.size(); ++i) {
    const auto& d = devices[i];
    if (d.empty()) return fmt::format("device {} of {} is empty; expected a comma-separated list such as cuda:0,cuda:1", i + 1, devices.size());
    if (auto e = check_device(d); !e.empty()) return fmt::format("'{}' is not a device; expected {}", d, e);
    // cpu and cpu:0 are one device; listing a device twice would start two workers fighting over it.
    const auto key = d == "cpu" ? "cpu:0" : d;
    if (!seen.insert(key).second) return fmt::format("device '{}' is listed twice", d);
  }
  return {};
}

namespace {

std::string type_name(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::boolean: return "a boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: return "an integer";
    case nlohmann::json::value_t::number_float: return "a number";
    case nlohmann::json::value_t::string: return "a string";
    case nlohmann::json::value_t::array: return "an array";
    case nlohmann::json::value_t::object: return "an object";
    default: return "an unsupported value";
  }
}

std::string show(const nlohmann::json& v) {
  auto s = v.dump();
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

class Checker {
 public:
  Checker(const PluginRegistry& plugins) : plugins_(plugins) {}
  std::vector<std::string> problems;

  void add(const std::string& ptr, const std::string& msg) {
    problems.push_back((ptr.empty() ? "/" : ptr) + ": " + msg);
  }

  void expect_keys(const nlohmann::json& obj, const std::string& ptr,
                   const std::set<std::string>& allowed) {
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      if (!allowed.count(it.key())) {
        std::string list;
        for (auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        add(ptr + "/" + json_pointer_escape(it.key()), "unknown key; expected one of " + list);
      }
    }
  }

  bool expect_type(const nlohmann::json& v, const std::string& ptr, nlohmann::json::value_t t,
                   const std::string& what) {
    bool ok = v.type() == t ||
              (t == nlohmann::json::value_t::number_integer && v.is_number_integer());
    if (!ok) add(ptr, fmt::format("expected {}, got {}", what, type_name(v)));
    return ok;
  }

  // Checks one value for one parameter of a plugin.
  void check_param(const PluginRecord& plugin, const std::string& param, const nlohmann::json& v,
                   const std::string& ptr) {
    const ParamSpec* ps = plugin.param(param);
    if (!ps) {
      add(ptr, fmt::format("unknown parameter of {} plugin '{}'; expected one of {}", plugin.kind,
                           plugin.name, plugin.param_names()));
      return;
    }
    auto expected = ps->check(v);
    if (!expected.empty()) add(ptr, fmt::format("{} is not {}", show(v), expected));
  }

  const PluginRecord* check_component_object(const nlohmann::json& obj, const std::string& ptr,
                                             const std::string& kind) {
    if (!expect_type(obj, ptr, nlohmann::json::value_t::object, "an object with \"plugin\""))
      return nullptr;
    expect_keys(obj, ptr, {"plugin", "params"});
    auto pit = obj.find("plugin");
    if (pit == obj.end()) {
      add(ptr, "missing key \"plugin\"; expected the name of a " + kind + " plugin");
      return nullptr;
    }
    if (!expect_type(*pit, ptr + "/plugin", nlohmann::json::value_t::string, "a plugin name"))
      return nullptr;
    const PluginRecord* rec = kind.empty() ? nullptr : plugins_.find(kind, pit->get<std::string>());
    if (!kind.empty() && !rec) {
      auto names = plugins_.names_of_kind(kind);
      std::string list;
      for (auto& n : names) list += (list.empty() ? "" : ", ") + n;
      add(ptr + "/plugin", fmt::format("unknown {} plugin '{}'; available: {}", kind,
                                       pit->get<std::string>(), list.empty() ? "(none)" : list));
    }
    auto params = obj.find("params");
    if (params != obj.end() &&
        expect_type(*params, ptr + "/params", nlohmann::json::value_t::object, "an object") && rec) {
      for (auto it = params->begin(); it != params->end(); ++it)
        check_param(*rec, it.key(), it.value(), ptr + "/params/" + json_pointer_escape(it.key()));
      for (auto& p : rec->params)
        if (!p.default_value && !params->contains(p.name))
          add(ptr + "/params", fmt::format("missing required parameter '{}' ({})", p.name,
                                           p.describe_type()));
    } else if (params == obj.end() && rec) {
      for (auto& p : rec->params)
        if (!p.default_value)
          add(ptr, fmt::format("missing required parameter '{}' ({})", p.name, p.describe_type()));
    }
    return rec;
  }

 private:
  const PluginRegistry& plugins_;
};

using vt = nlohmann::json::value_t;

// /execution: {"autocast": "off" | "bf16", "channels_last": bool}; only what differs from the
// defaults is kept, so that a spec without it hashes its runs as before.
void parse_execution(const nlohmann::json& e, Checker& ck, Spec& spec) {
  if (!ck.expect_type(e, "/execution", vt::object, "an object (autocast, channels_last)")) return;
  ck.expect_keys(e, "/execution", {"autocast", "channels_last"});
  if (auto it = e.find("autocast"); it != e.end()) {
    if (!it->is_string() || (*it != "off" && *it != "bf16"))
      ck.add("/execution/autocast", fmt::format("{} is not \"off\" or \"bf16\"", show(*it)));
    else if (*it != "off")
      spec.execution["autocast"] = *it;
  }
  if (auto it = e.find("channels_last"); it != e.end()) {
    if (!it->is_boolean())
      ck.add("/execution/channels_last", fmt::format("{} is not a boolean", show(*it)));
    else if (it->get<bool>())
      spec.execution["channels_last"] = true;
  }
}

// name, description, seed, devices, database, execution.
void parse_header(const nlohmann::json& doc, Checker& ck, Spec& spec) {
  if (auto it = doc.find("name"); it == doc.end()) {
    ck.add("", "missing key \"name\"; expected the experiment's name");
  } else if (ck.expect_type(*it, "/name", vt::string, "a string")) {
    spec.name = it->get<std::string>();
    if (!std::regex_match(spec.name, std::regex("^[A-Za-z0-9][A-Za-z0-9_.-]*$")))
      ck.add("/name", "expected letters, digits, '_', '.', '-' (it names the database file)");
  }
  if (auto it = doc.find("description"); it != doc.end() && ck.expect_type(*it, "/description", vt::string, "a string"))
    spec.description = it->get<std::string>();
  if (auto it = doc.find("seed"); it != doc.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0)
      ck.add("/seed", fmt::format("{} is not an integer ≥ 0", show(*it)));
    else
      spec.seed = it->get<int64_t>();
  }
  if (auto it = doc.find("devices"); it != doc.end() && ck.expect_type(*it, "/devices", vt::array, "an array of devices")) {
    if (it->empty()) ck.add("/devices", "expected at least one device");
    spec.devices.clear();
    std::set<std::string> seen;
    for (size_t i = 0; i < it->size(); ++i) {
      auto ptr = fmt::format("/devices/{}", i);
      if (!ck.expect_type((*it)[i], ptr, vt::string, "a device name")) continue;
      auto d = (*it)[i].get<std::string>();
      if (auto e = check_device(d); !e.empty())
        ck.add(ptr, fmt::format("\"{}\" is not a device; expected {}", d, e));
      else if (!seen.insert(d == "cpu" ? "cpu:0" : d).second)
        ck.add(ptr, fmt::format("device \"{}\" is listed twice", d));
      spec.devices.push_back(d);
    }
  }
  if (auto it = doc.find("database"); it != doc.end() && ck.expect_type(*it, "/database", vt::string, "a file path"))
    spec.database = it->get<std::string>();
  if (auto it = doc.find("execution"); it != doc.end()) parse_execution(*it, ck, spec);
  if (spec.database.empty() && !spec.name.empty()) spec.database = "results/" + spec.name + ".db";
}

using RoleMap = std::map<std::string, std::pair<std::string, std::string>>;  // component -> kind, pointer

// An inspect stage's "params": known keys, each of the right type and range; defaults filled in.
nlohmann::json check_inspect_params(const nlohmann::json& given, const std::string& ptr, Checker& ck) {
  auto out = inspect_param_defaults();
  if (!ck.expect_type(given, ptr, vt::object, "an object of inspect parameters")) return out;
  std::set<std::string> known;
  for (auto it = out.begin(); it != out.end(); ++it) known.insert(it.key());
  ck.expect_keys(given, ptr, known);
  static const std::map<std::string, std::pair<double, double>> ranges = {
      {"images", {1, 1e4}}, {"ig_steps", {1, 1e4}}, {"internal_batch_size", {0, 1e6}}, {"topk", {1e-6, 1}},
      {"baseline", {-1e6, 1e6}}};
  for (auto it = given.begin(); it != given.end(); ++it) {
    if (!known.count(it.key())) continue;
    const auto p = ptr + "/" + json_pointer_escape(it.key());
    const auto& dflt = out[it.key()];
    const auto& v = it.value();
    if (dflt.is_boolean() && !v.is_boolean()) ck.add(p, fmt::format("{} is not a boolean", show(v)));
    else if (dflt.is_string() && it.key() == "ig_method" &&
             (!v.is_string() || !std::set<std::string>{"gausslegendre", "riemann_left", "riemann_right", "riemann_middle",
                                                       "riemann_trapezoid"}
                                     .count(v.get<std::string>())))
      ck.add(p, fmt::format("{} is not one of gausslegendre, riemann_left, riemann_right, riemann_middle, "
                            "riemann_trapezoid", show(v)));
    else if (dflt.is_number() && (!v.is_number() || (dflt.is_number_integer() && !v.is_number_integer()) ||
                                  v.get<double>() < ranges.at(it.key()).first || v.get<double>() > ranges.at(it.key()).second))
      ck.add(p, fmt::format("{} is not {} in [{}, {}]", show(v), dflt.is_number_integer() ? "an integer" : "a number",
                            ranges.at(it.key()).first, ranges.at(it.key()).second));
    else
      out[it.key()] = v;
  }
  // Captum's Riemann rules need at least two points (its approximation_parameters assert n > 1);
  // Gauss-Legendre takes one.
  if (out["ig_steps"].get<int64_t>() < 2 && out["ig_method"].get<std::string>().rfind("riemann", 0) == 0)
    ck.add(ptr + "/ig_steps", fmt::format("{} step with {}: the Riemann rules need at least 2 (as Captum's); "
                                          "gausslegendre takes 1",
                                          out["ig_steps"].get<int64_t>(), out["ig_method"].get<std::string>()));
  return out;
}

// One stage object: its fields and the rules of its type.
StageSpec parse_stage(const nlohmann::json& s, const std::string& ptr, Checker& ck) {
  ck.expect_keys(s, ptr, {"name", "type", "after", "backbone", "task", "distortion", "params"});
  StageSpec st;
  auto str = [&](const char* key, std::string& out) {
    auto f = s.find(key);
    if (f == s.end() || !ck.expect_type(*f, ptr + "/" + key, vt::string, "a string")) return false;
    out = f->get<std::string>();
    return true;
  };
  if (!str("name", st.name) && !s.contains("name")) ck.add(ptr, "missing key \"name\"");
  if (!str("type", st.type)) {
    if (!s.contains("type")) ck.add(ptr, "missing key \"type\"; expected prepare, fit, evaluate or inspect");
  } else if (st.type != "prepare" && st.type != "fit" && st.type != "evaluate" && st.type != "inspect") {
    ck.add(ptr + "/type",
           fmt::format("\"{}\" is not a stage type; expected prepare, fit, evaluate or inspect", st.type));
  }
  if (st.type == "inspect") st.params = check_inspect_params(s.value("params", nlohmann::json::object()), ptr + "/params", ck);
  else if (s.contains("params")) ck.add(ptr + "/params", "only an inspect stage takes params");
  str("after", st.after);
  str("backbone", st.backbone);
  str("task", st.task);
  str("distortion", st.distortion);
  if (st.type == "prepare") {
    if (st.backbone.empty()) ck.add(ptr, "a prepare stage needs \"backbone\"");
    if (st.task.empty()) ck.add(ptr, "a prepare stage needs \"task\"");
    if (!st.after.empty()) ck.add(ptr + "/after", "a prepare stage has no upstream stage");
    if (!st.distortion.empty()) ck.add(ptr + "/distortion", "a prepare stage takes no distortion");
  } else if (!st.type.empty()) {
    if (st.after.empty())
      ck.add(ptr, fmt::format("a {} stage needs \"after\" (the stage that prepares its task network{})", st.type,
                              st.type == "fit" ? "" : " or fits its distortion"));
    if (!st.backbone.empty() || !st.task.empty())
      ck.add(ptr, "backbone and task come from the upstream stage; remove them here");
    if (st.type != "evaluate" && st.distortion.empty())
      ck.add(ptr, fmt::format("a {} stage needs \"distortion\"", st.type));
  }
  return st;
}

// Upstream references, then the stages in dependency order.
void order_stages(Checker& ck, Spec& spec) {
  for (size_t i = 0; i < spec.stages.size(); ++i) {
    const auto& st = spec.stages[i];
    if (st.after.empty()) continue;
    const StageSpec* up = spec.stage(st.after);
    auto ptr = fmt::format("/stages/{}/after", i);
    if (!up)
      ck.add(ptr, fmt::format("unknown stage \"{}\"; expected the name of another stage", st.after));
    else if (up->type == "evaluate" || up->type == "inspect")
      ck.add(ptr, fmt::format("stage \"{}\" is an {}; expected a prepare or fit stage", st.after,
                              up->type == "evaluate" ? "evaluation" : "inspection"));
    else if (st.type == "fit" && up->type != "prepare")
      ck.add(ptr, fmt::format("a fit stage follows a prepare stage; \"{}\" is a {} stage", st.after, up->type));
  }
  // Topological order (chains are short; repeated passes are enough).
  std::vector<StageSpec> ordered;
  std::set<std::string> placed;
  for (bool progress = true; progress && ordered.size() < spec.stages.size();) {
    progress = false;
    for (auto& st : spec.stages) {
      if (placed.count(st.name) || !(st.after.empty() || placed.count(st.after))) continue;
      ordered.push_back(st);
      placed.insert(st.name);
      progress = true;
    }
  }
  if (ck.problems.empty() && ordered.size() < spec.stages.size())
    ck.add("/stages", "the stages' \"after\" links form a cycle");
  if (ordered.size() == spec.stages.size()) spec.stages = ordered;
}

// The stages; they give every component its kind (its role).
RoleMap parse_stages(const nlohmann::json& doc, Checker& ck, Spec& spec) {
  RoleMap role_of;
  auto stages = doc.find("stages");
  if (stages == doc.end()) {
    ck.add("", "missing key \"stages\"; expected an array of stages");
    return role_of;
  }
  if (!ck.expect_type(*stages, "/stages", vt::array, "an array of stages")) return role_of;
  if (stages->empty()) ck.add("/stages", "expected at least one stage");
  std::set<std::string> names;
  for (size_t i = 0; i < stages->size(); ++i) {
    auto ptr = fmt::format("/stages/{}", i);
    if (!ck.expect_type((*stages)[i], ptr, vt::object, "a stage object")) continue;
    StageSpec st = parse_stage((*stages)[i], ptr, ck);
    if (!st.name.empty() && !names.insert(st.name).second)
      ck.add(ptr + "/name", fmt::format("stage name \"{}\" is used twice", st.name));
    for (auto [role, comp] : {std::pair<const char*, std::string*>{"backbone", &st.backbone},
                              {"task", &st.task},
                              {"distortion", &st.distortion}}) {
      if (comp->empty()) continue;
      auto [rit, fresh] = role_of.emplace(*comp, std::make_pair(std::string(role), ptr));
      if (!fresh && rit->second.first != role)
        ck.add(ptr + "/" + role, fmt::format("component \"{}\" is a {} at {}; a component has one role", *comp,
                                             rit->second.first, rit->second.second));
    }
    spec.stages.push_back(st);
  }
  order_stages(ck, spec);
  return role_of;
}

void parse_components(const nlohmann::json& doc, Checker& ck, Spec& spec, const RoleMap& role_of) {
  auto comps = doc.find("components");
  if (comps == doc.end()) {
    ck.add("", "missing key \"components\"; expected an object of named plugin instances");
    return;
  }
  if (!ck.expect_type(*comps, "/components", vt::object, "an object")) return;
  for (auto it = comps->begin(); it != comps->end(); ++it) {
    auto ptr = "/components/" + json_pointer_escape(it.key());
    auto role = role_of.find(it.key());
    if (role == role_of.end()) {
      ck.add(ptr, "component is not used by any stage");
      ck.check_component_object(it.value(), ptr, "");
      continue;
    }
    ComponentSpec c;
    c.name = it.key();
    c.kind = role->second.first;
    if (ck.check_component_object(it.value(), ptr, c.kind)) {
      c.plugin = it.value().at("plugin").get<std::string>();
      c.params = it.value().value("params", nlohmann::json::object());
    }
    spec.components[c.name] = c;
  }
  for (auto& [comp, rp] : role_of)
    if (!comps->contains(comp))
      ck.add(rp.second + "/" + rp.first, fmt::format("unknown component \"{}\"; expected a key of /components", comp));
}

// An axis of one target whose points are single values.
SweepAxis single_target_axis(SweepTarget target, const std::vector<nlohmann::json>& values) {
  SweepAxis ax;
  ax.name = target.key();
  ax.targets.push_back(std::move(target));
  for (auto& v : values) {
    ax.points.push_back({v});
    const bool named = v.is_object() && v.contains("plugin") && v["plugin"].is_string();
    ax.point_labels.push_back(named ? v["plugin"].get<std::string>() : v.is_string() ? v.get<std::string>() : v.dump());
  }
  return ax;
}

void parse_seed_axis(const nlohmann::json& v, const std::string& ptr, Checker& ck, Spec& spec) {
  if (!ck.expect_type(v, ptr, vt::array, "an array of seeds")) return;
  if (v.empty()) ck.add(ptr, "expected a non-empty array");
  for (size_t i = 0; i < v.size(); ++i)
    if (!v[i].is_number_integer() || v[i].get<int64_t>() < 0)
      ck.add(fmt::format("{}/{}", ptr, i), fmt::format("{} is not an integer ≥ 0", show(v[i])));
  spec.axes.push_back(single_target_axis({}, v.get<std::vector<nlohmann::json>>()));
  spec.axis_pointers.push_back(ptr);
}

// /sweep: "seed": [..], "<component>": [alternatives], "<component>": {"<param>": [values]}.
void parse_sweep(const nlohmann::json& doc, Checker& ck, Spec& spec, const PluginRegistry& plugins) {
  auto sw = doc.find("sweep");
  if (sw == doc.end() || !ck.expect_type(*sw, "/sweep", vt::object, "an object")) return;
  for (auto it = sw->begin(); it != sw->end(); ++it) {
    auto ptr = "/sweep/" + json_pointer_escape(it.key());
    if (it.key() == "seed") {
      parse_seed_axis(it.value(), ptr, ck, spec);
      continue;
    }
    auto cit = spec.components.find(it.key());
    if (cit == spec.components.end()) {
      ck.add(ptr, "unknown component; expected \"seed\" or a key of /components");
      continue;
    }
    const auto& comp = cit->second;
    if (it.value().is_array()) {  // alternatives for the whole component
      if (it.value().empty()) ck.add(ptr, "expected a non-empty array");
      for (size_t i = 0; i < it.value().size(); ++i)
        ck.check_component_object(it.value()[i], fmt::format("{}/{}", ptr, i), comp.kind);
      spec.axes.push_back(single_target_axis({comp.name, ""}, it.value().get<std::vector<nlohmann::json>>()));
      spec.axis_pointers.push_back(ptr);
    } else if (it.value().is_object()) {
      const PluginRecord* rec = plugins.find(comp.kind, comp.plugin);
      if (!rec) continue;  // already reported
      for (auto pit = it.value().begin(); pit != it.value().end(); ++pit) {
        auto pptr = ptr + "/" + json_pointer_escape(pit.key());
        if (!rec->param(pit.key())) {
          ck.check_param(*rec, pit.key(), nlohmann::json(), pptr);
          continue;
        }
        if (!ck.expect_type(pit.value(), pptr, vt::array, "an array of values")) continue;
        if (pit.value().empty()) ck.add(pptr, "expected a non-empty array");
        // A parameter that changes no stage's result (the plugin says so: quant-uniform's seed)
        // is in no run's identity; sweeping it would only repeat runs.
        if (rec->param(pit.key())->stages == 0 && pit.value().size() > 1)
          ck.add(pptr, fmt::format("{} does not use its parameter {} (it affects no stage); sweeping it would repeat "
                                   "identical runs",
                                   comp.plugin, pit.key()));
        for (size_t i = 0; i < pit.value().size(); ++i)
          ck.check_param(*rec, pit.key(), pit.value()[i], fmt::format("{}/{}", pptr, i));
        spec.axes.push_back(single_target_axis({comp.name, pit.key()}, pit.value().get<std::vector<nlohmann::json>>()));
        spec.axis_pointers.push_back(pptr);
      }
    } else {
      ck.add(ptr, fmt::format("expected an object of parameter arrays or an array of alternative components, got {}",
                              type_name(it.value())));
    }
  }
}

// One key of a case: "seed", "<component>" (a whole component) or "<component>.<param>".
std::optional<SweepTarget> case_target(const std::string& key, const nlohmann::json& v, const std::string& ptr, Checker& ck,
                                       const Spec& spec, const PluginRegistry& plugins) {
  if (key == "seed") {
    if (!v.is_number_integer() || v.get<int64_t>() < 0) ck.add(ptr, fmt::format("{} is not an integer ≥ 0", show(v)));
    return SweepTarget{};
  }
  if (auto c = spec.components.find(key); c != spec.components.end()) {
    ck.check_component_object(v, ptr, c->second.kind);
    return SweepTarget{key, ""};
  }
  const auto dot = key.rfind('.');
  auto c = dot == std::string::npos ? spec.components.end() : spec.components.find(key.substr(0, dot));
  if (c == spec.components.end()) {
    ck.add(ptr, "unknown key; expected \"name\", \"seed\", a component or \"<component>.<parameter>\"");
    return std::nullopt;
  }
  if (const PluginRecord* rec = plugins.find(c->second.kind, c->second.plugin))
    ck.check_param(*rec, key.substr(dot + 1), v, ptr);
  return SweepTarget{c->first, key.substr(dot + 1)};
}

// One case group: every case sets the same keys; the case's "name" labels its runs.
void parse_case_group(const std::string& group, const nlohmann::json& cases, const std::string& ptr, Checker& ck,
                      Spec& spec, const PluginRegistry& plugins) {
  if (!ck.expect_type(cases, ptr, vt::array, "an array of cases")) return;
  if (cases.empty()) ck.add(ptr, "expected a non-empty array of cases");
  if (group == "seed" || spec.components.count(group))
    ck.add(ptr, "a case group needs a name of its own, not \"seed\" or a component's (it labels the runs)");
  SweepAxis ax;
  ax.name = group;
  std::set<std::string> first_keys, names;
  for (size_t i = 0; i < cases.size(); ++i) {
    auto cptr = fmt::format("{}/{}", ptr, i);
    const auto& c = cases[i];
    if (!ck.expect_type(c, cptr, vt::object, "a case object")) continue;
    std::set<std::string> keys;
    std::vector<nlohmann::json> point;
    for (auto it = c.begin(); it != c.end(); ++it) {
      if (it.key() == "name") continue;
      keys.insert(it.key());
      auto t = case_target(it.key(), it.value(), cptr + "/" + json_pointer_escape(it.key()), ck, spec, plugins);
      if (!t) continue;
      if (i == 0) ax.targets.push_back(*t);
      point.push_back(it.value());
    }
    std::string label = fmt::format("case{}", i);
    if (auto n = c.find("name"); n != c.end() && ck.expect_type(*n, cptr + "/name", vt::string, "a string"))
      label = n->get<std::string>();
    if (!names.insert(label).second) ck.add(cptr + "/name", fmt::format("case name \"{}\" is used twice", label));
    if (keys.empty()) ck.add(cptr, "a case sets nothing; expected \"<component>.<parameter>\", a component or \"seed\"");
    if (i == 0) first_keys = keys;
    else if (keys != first_keys)
      ck.add(cptr, fmt::format("sets other keys than {}/0; every case of a group sets the same keys", ptr));
    ax.points.push_back(std::move(point));
    ax.point_labels.push_back(label);
  }
  spec.axes.push_back(std::move(ax));
  spec.axis_pointers.push_back(ptr);
}

void parse_cases(const nlohmann::json& doc, Checker& ck, Spec& spec, const PluginRegistry& plugins) {
  auto cs = doc.find("cases");
  if (cs == doc.end() || !ck.expect_type(*cs, "/cases", vt::object, "an object of case groups")) return;
  for (auto it = cs->begin(); it != cs->end(); ++it)
    parse_case_group(it.key(), it.value(), "/cases/" + json_pointer_escape(it.key()), ck, spec, plugins);
}

// A target varies in one place only, and a component varied as a whole has no parameter varied.
void check_targets(Checker& ck, const Spec& spec) {
  std::map<std::string, std::string> where;  // target key -> axis pointer
  std::map<std::string, std::string> whole;  // component -> axis pointer
  for (size_t a = 0; a < spec.axes.size(); ++a)
    for (auto& t : spec.axes[a].targets) {
      auto [it, fresh] = where.emplace(t.key(), spec.axis_pointers[a]);
      if (!fresh) ck.add(spec.axis_pointers[a], fmt::format("{} is also varied by {}; vary it in one place", t.key(), it->second));
      if (!t.component.empty() && t.param.empty()) whole.emplace(t.component, spec.axis_pointers[a]);
    }
  for (size_t a = 0; a < spec.axes.size(); ++a)
    for (auto& t : spec.axes[a].targets)
      if (!t.param.empty() && whole.count(t.component))
        ck.add(spec.axis_pointers[a], fmt::format("{} is varied as a whole by {}; a component varied as a whole cannot "
                                                  "also have parameters varied: put the values into each alternative",
                                                  t.component, whole.at(t.component)));
}

}  // namespace

nlohmann::json inspect_param_defaults() {
  return {{"images", 4},          // evaluation images inspected (the first ones)
          {"ig_steps", 50},       // Integrated Gradients: points on the path (Captum's n_steps)
          {"ig_method", "gausslegendre"},
          {"internal_batch_size", 0},  // inputs per forward pass (0: all points of an image at once)
          {"baseline", 0.0},      // the IG baseline image: this constant (0: Captum's zero baseline)
          {"attribution", true},  // IG maps; false: tolerance maps only
          {"gaussian", true},     // also Gaussian noise at the distortion's NRMSE, per image
          {"topk", 0.1}};         // the share of pixels in the top-k overlap of two maps
}

Spec parse_spec(const nlohmann::json& doc, const std::string& file, const PluginRegistry& plugins) {
  Checker ck(plugins);
  Spec spec;
  spec.file = file;
  spec.raw = doc;
  if (!doc.is_object()) {
    ck.add("", "expected a JSON object (an experiment spec), got " + type_name(doc));
    throw SpecError(file, ck.problems);
  }
  ck.expect_keys(doc, "", {"name", "description", "seed", "devices", "database", "execution", "components", "stages",
                           "sweep", "cases"});
  parse_header(doc, ck, spec);
  auto role_of = parse_stages(doc, ck, spec);
  parse_components(doc, ck, spec, role_of);
  parse_sweep(doc, ck, spec, plugins);
  parse_cases(doc, ck, spec, plugins);
  check_targets(ck, spec);
  if (!ck.problems.empty()) throw SpecError(file, ck.problems);
  spec.hash = sha256_hex(doc.dump());
  return spec;
}

Spec load_spec(const std::string& path, const PluginRegistry& plugins, const std::vector<std::string>& overrides) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw UserError(fmt::format("{}: is a directory; expected an experiment spec (a JSON file)", path));
  std::ifstream in(path);
  if (!in) throw UserError(fmt::format("cannot open experiment spec '{}'", path));
  std::stringstream ss;
  ss << in.rdbuf();
  if (auto deep = json_depth_error(ss.str()); !deep.empty()) throw SpecError(path, {" " + deep});
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is the position of the offending byte; report it as line:column.
    size_t line = 1, col = 1;
    auto text = ss.str();
    for (size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    std::string what = e.what();
    auto pos = what.find("parse error");
    throw SpecError(path, {fmt::format("line {} column {}: invalid JSON ({})", line, col,
                                       pos == std::string::npos ? what : what.substr(pos))});
  } catch (const nlohmann::json::exception& e) {  // a number too large for a double, for one
    throw SpecError(path, {fmt::format(" invalid JSON ({})", e.what())});
  }
  auto applied = apply_overrides(doc, overrides, path);
  try {
    Spec spec = parse_spec(doc, path, plugins);
    spec.overrides = applied;
    return spec;
  } catch (const SpecError& e) {
    // A problem inside an overridden value says so: the file does not hold that value.
    std::vector<std::string> problems;
    for (auto p : e.problems()) {
      for (auto& o : applied)
        if (p.rfind(o.pointer + "/", 0) == 0 || p.rfind(o.pointer + ":", 0) == 0) {
          p += fmt::format(" (set by --set {})", o.path);
          break;
        }
      problems.push_back(p);
    }
    throw SpecError(path, problems);
  }
}

namespace {

// "components.task.params.root" or "/components/task/params/root" as a JSON pointer.
std::string pointer_of(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  std::string ptr;
  size_t start = 0;
  while (start <= path.size()) {
    auto dot = path.find('.', start);
    auto token = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (token.empty()) return {};
    ptr += "/" + json_pointer_escape(token);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return ptr;
}

}  // namespace

std::vector<Override> apply_overrides(nlohmann::json& doc, const std::vector<std::string>& assignments,
                                      const std::string& file) {
  std::vector<Override> out;
  for (const auto& a : assignments) {
    auto eq = a.find('=');
    auto fail = [&](const std::string& what) { return SpecError(file, {fmt::format("--set {}: {}", a, what)}); };
    if (eq == std::string::npos || eq == 0) throw fail("expected PATH=VALUE (for example components.task.params.root=/data/coco)");
    Override o;
    o.path = a.substr(0, eq);
    o.pointer = pointer_of(o.path);
    if (o.pointer.empty()) throw fail("the path has an empty part");
    const auto text = a.substr(eq + 1);
    o.value = nlohmann::json::parse(text, nullptr, false);
    if (o.value.is_discarded()) o.value = text;  // not JSON: a string, as Hydra reads root=/data
    nlohmann::json::json_pointer ptr;
    try {
      ptr = nlohmann::json::json_pointer(o.pointer);
    } catch (const nlohmann::json::exception&) {
      throw fail("not a valid JSON pointer");
    }
    const auto parent = ptr.parent_pointer();
    for (auto prefix = parent; !prefix.empty(); prefix = prefix.parent_pointer())
      if (!doc.contains(prefix) && doc.contains(prefix.parent_pointer()))
        throw fail(fmt::format("{} does not exist in the spec (--set adds a key only to an existing object)",
                               prefix.to_string()));
    if (!doc.at(parent).is_object() && !doc.at(parent).is_array())
      throw fail(fmt::format("{} is not an object or array in the spec", parent.to_string().empty() ? "/" : parent.to_string()));
    auto& container = doc.at(parent);
    if (container.is_array()) {
      const auto& last = ptr.back();
      if (last.find_first_not_of("0123456789") != std::string::npos || last.empty() || std::stoull(last) >= container.size())
        throw fail(fmt::format("{} has {} elements; expected an index below that", parent.to_string(), container.size()));
    }
    doc[ptr] = o.value;
    out.push_back(std::move(o));
  }
  return out;
}


}  // namespace featjnd
