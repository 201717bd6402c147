#include "spec/spec.h"

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "core/sha256.h"
#include "plugin_host/plugin_registry.h"

namespace featjnd {

SpecError::SpecError(std::string file, std::vector<std::string> problems)
    : UserError(problems.empty() ? file : file + ": " + problems.front()),
      file_(std::move(file)),
      problems_(std::move(problems)) {}

std::string SweepAxis::key() const {
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
  static const std::regex re("^(cpu|cuda:[0-9]+)$");
  return std::regex_match(d, re) ? std::string() : "\"cpu\" or \"cuda:N\"";
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

}  // namespace

Spec parse_spec(const nlohmann::json& doc, const std::string& file,
                const PluginRegistry& plugins) {
  using vt = nlohmann::json::value_t;
  Checker ck(plugins);
  Spec spec;
  spec.file = file;
  spec.raw = doc;
  if (!doc.is_object()) {
    ck.add("", "expected a JSON object (an experiment spec), got " + type_name(doc));
    throw SpecError(file, ck.problems);
  }
  ck.expect_keys(doc, "", {"name", "description", "seed", "devices", "database", "components",
                           "stages", "sweep"});

  // name
  if (auto it = doc.find("name"); it == doc.end()) {
    ck.add("", "missing key \"name\"; expected the experiment's name");
  } else if (ck.expect_type(*it, "/name", vt::string, "a string")) {
    spec.name = it->get<std::string>();
    if (!std::regex_match(spec.name, std::regex("^[A-Za-z0-9][A-Za-z0-9_.-]*$")))
      ck.add("/name", "expected letters, digits, '_', '.', '-' (it names the database file)");
  }
  if (auto it = doc.find("description"); it != doc.end() &&
                                         ck.expect_type(*it, "/description", vt::string, "a string"))
    spec.description = it->get<std::string>();
  if (auto it = doc.find("seed"); it != doc.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 0)
      ck.add("/seed", fmt::format("{} is not an integer ≥ 0", show(*it)));
    else
      spec.seed = it->get<int64_t>();
  }
  if (auto it = doc.find("devices"); it != doc.end()) {
    if (ck.expect_type(*it, "/devices", vt::array, "an array of devices")) {
      if (it->empty()) ck.add("/devices", "expected at least one device");
      spec.devices.clear();
      std::set<std::string> seen;
      for (size_t i = 0; i < it->size(); ++i) {
        auto ptr = fmt::format("/devices/{}", i);
        if (!ck.expect_type((*it)[i], ptr, vt::string, "a device name")) continue;
        auto d = (*it)[i].get<std::string>();
        if (auto e = check_device(d); !e.empty())
          ck.add(ptr, fmt::format("\"{}\" is not a device; expected {}", d, e));
        else if (!seen.insert(d).second)
          ck.add(ptr, fmt::format("device \"{}\" is listed twice", d));
        spec.devices.push_back(d);
      }
    }
  }
  if (auto it = doc.find("database"); it != doc.end()) {
    if (ck.expect_type(*it, "/database", vt::string, "a file path"))
      spec.database = it->get<std::string>();
  }
  if (spec.database.empty() && !spec.name.empty()) spec.database = "results/" + spec.name + ".db";

  // stages first: they give every component its kind.
  std::map<std::string, std::pair<std::string, std::string>> role_of;  // component -> kind, ptr
  auto stages = doc.find("stages");
  if (stages == doc.end()) {
    ck.add("", "missing key \"stages\"; expected an array of stages");
  } else if (ck.expect_type(*stages, "/stages", vt::array, "an array of stages")) {
    if (stages->empty()) ck.add("/stages", "expected at least one stage");
    std::set<std::string> names;
    for (size_t i = 0; i < stages->size(); ++i) {
      auto ptr = fmt::format("/stages/{}", i);
      const auto& s = (*stages)[i];
      if (!ck.expect_type(s, ptr, vt::object, "a stage object")) continue;
      ck.expect_keys(s, ptr, {"name", "type", "after", "backbone", "task", "distortion"});
      StageSpec st;
      auto str = [&](const char* key, std::string& out) {
        auto f = s.find(key);
        if (f == s.end()) return false;
        if (!ck.expect_type(*f, ptr + "/" + key, vt::string, "a string")) return false;
        out = f->get<std::string>();
        return true;
      };
      if (!str("name", st.name)) {
        if (!s.contains("name")) ck.add(ptr, "missing key \"name\"");
      } else if (!names.insert(st.name).second) {
        ck.add(ptr + "/name", fmt::format("stage name \"{}\" is used twice", st.name));
      }
      if (!str("type", st.type)) {
        if (!s.contains("type")) ck.add(ptr, "missing key \"type\"; expected prepare, fit or evaluate");
      } else if (st.type != "prepare" && st.type != "fit" && st.type != "evaluate") {
        ck.add(ptr + "/type", fmt::format("\"{}\" is not a stage type; expected prepare, fit or "
                                          "evaluate",
                                          st.type));
      }
      str("after", st.after);
      str("backbone", st.backbone);
      str("task", st.task);
      str("distortion", st.distortion);
      if (st.type == "prepare") {
        if (st.backbone.empty()) ck.add(ptr, "a prepare stage needs \"backbone\"");
        if (st.task.empty()) ck.add(ptr, "a prepare stage needs \"task\"");
        if (!st.after.empty()) ck.add(ptr + "/after", "a prepare stage has no upstream stage");
        if (!st.distortion.empty())
          ck.add(ptr + "/distortion", "a prepare stage takes no distortion");
      } else if (st.type == "fit" || st.type == "evaluate") {
        if (st.after.empty())
          ck.add(ptr, fmt::format("a {} stage needs \"after\" (the stage that prepares its task "
                                  "network{})",
                                  st.type, st.type == "evaluate" ? " or fits its distortion" : ""));
        if (!st.backbone.empty() || !st.task.empty())
          ck.add(ptr, "backbone and task come from the upstream stage; remove them here");
        if (st.type == "fit" && st.distortion.empty())
          ck.add(ptr, "a fit stage needs \"distortion\"");
      }
      for (auto [role, comp] : {std::pair<const char*, std::string*>{"backbone", &st.backbone},
                                {"task", &st.task},
                                {"distortion", &st.distortion}}) {
        if (comp->empty()) continue;
        auto [rit, fresh] = role_of.emplace(*comp, std::make_pair(std::string(role), ptr));
        if (!fresh && rit->second.first != role)
          ck.add(ptr + "/" + role, fmt::format("component \"{}\" is a {} at {}; a component has one "
                                               "role",
                                               *comp, rit->second.first, rit->second.second));
      }
      spec.stages.push_back(st);
    }
    // upstream references, order and cycles
    std::vector<StageSpec> ordered;
    std::set<std::string> placed;
    for (size_t i = 0; i < spec.stages.size(); ++i) {
      auto& st = spec.stages[i];
      if (st.after.empty()) continue;
      const StageSpec* up = nullptr;
      for (auto& o : spec.stages)
        if (o.name == st.after) up = &o;
      auto ptr = fmt::format("/stages/{}/after", i);
      if (!up)
        ck.add(ptr, fmt::format("unknown stage \"{}\"; expected the name of another stage",
                                st.after));
      else if (up->type == "evaluate")
        ck.add(ptr, fmt::format("stage \"{}\" is an evaluation; expected a prepare or fit stage",
                                st.after));
      else if (st.type == "fit" && up->type != "prepare")
        ck.add(ptr, fmt::format("a fit stage follows a prepare stage; \"{}\" is a {} stage",
                                st.after, up->type));
    }
    // Topological order (chains are short; repeated passes are enough).
    bool progress = true;
    while (progress && ordered.size() < spec.stages.size()) {
      progress = false;
      for (auto& st : spec.stages) {
        if (placed.count(st.name)) continue;
        if (st.after.empty() || placed.count(st.after)) {
          ordered.push_back(st);
          placed.insert(st.name);
          progress = true;
        }
      }
    }
    if (ck.problems.empty() && ordered.size() < spec.stages.size())
      ck.add("/stages", "the stages' \"after\" links form a cycle");
    if (ordered.size() == spec.stages.size()) spec.stages = ordered;
  }

  // components
  auto comps = doc.find("components");
  if (comps == doc.end()) {
    ck.add("", "missing key \"components\"; expected an object of named plugin instances");
  } else if (ck.expect_type(*comps, "/components", vt::object, "an object")) {
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
        ck.add(rp.second + "/" + rp.first,
               fmt::format("unknown component \"{}\"; expected a key of /components", comp));
  }

  // sweep
  if (auto sw = doc.find("sweep"); sw != doc.end()) {
    if (ck.expect_type(*sw, "/sweep", vt::object, "an object")) {
      for (auto it = sw->begin(); it != sw->end(); ++it) {
        auto ptr = "/sweep/" + json_pointer_escape(it.key());
        if (it.key() == "seed") {
          if (!ck.expect_type(it.value(), ptr, vt::array, "an array of seeds")) continue;
          if (it.value().empty()) ck.add(ptr, "expected a non-empty array");
          SweepAxis ax;
          for (size_t i = 0; i < it.value().size(); ++i) {
            auto& v = it.value()[i];
            if (!v.is_number_integer() || v.get<int64_t>() < 0)
              ck.add(fmt::format("{}/{}", ptr, i), fmt::format("{} is not an integer ≥ 0", show(v)));
            ax.values.push_back(v);
          }
          spec.axes.push_back(ax);
          continue;
        }
        auto cit = spec.components.find(it.key());
        if (cit == spec.components.end()) {
          ck.add(ptr, "unknown component; expected \"seed\" or a key of /components");
          continue;
        }
        auto& comp = cit->second;
        if (it.value().is_array()) {  // alternatives for the whole component
          if (it.value().empty()) ck.add(ptr, "expected a non-empty array");
          SweepAxis ax;
          ax.component = comp.name;
          for (size_t i = 0; i < it.value().size(); ++i) {
            ck.check_component_object(it.value()[i], fmt::format("{}/{}", ptr, i), comp.kind);
            ax.values.push_back(it.value()[i]);
          }
          spec.axes.push_back(ax);
        } else if (it.value().is_object()) {
          const PluginRecord* rec = plugins.find(comp.kind, comp.plugin);
          for (auto pit = it.value().begin(); pit != it.value().end(); ++pit) {
            auto pptr = ptr + "/" + json_pointer_escape(pit.key());
            if (!rec) continue;  // already reported
            if (!rec->param(pit.key())) {
              ck.check_param(*rec, pit.key(), nlohmann::json(), pptr);
              continue;
            }
            if (!ck.expect_type(pit.value(), pptr, vt::array, "an array of values")) continue;
            if (pit.value().empty()) ck.add(pptr, "expected a non-empty array");
            SweepAxis ax;
            ax.component = comp.name;
            ax.param = pit.key();
            for (size_t i = 0; i < pit.value().size(); ++i) {
              ck.check_param(*rec, pit.key(), pit.value()[i], fmt::format("{}/{}", pptr, i));
              ax.values.push_back(pit.value()[i]);
            }
            spec.axes.push_back(ax);
          }
        } else {
          ck.add(ptr, fmt::format("expected an object of parameter arrays or an array of "
                                  "alternative components, got {}",
                                  type_name(it.value())));
        }
      }
      // A component swept as a whole cannot also have single parameters swept.
      for (auto& a : spec.axes)
        if (!a.component.empty() && a.param.empty())
          for (auto& b : spec.axes)
            if (b.component == a.component && !b.param.empty()) {
              ck.add("/sweep/" + json_pointer_escape(a.component),
                     "a component swept as a whole cannot also have parameters swept; put the "
                     "values into each alternative");
              break;
            }
    }
  }

  if (!ck.problems.empty()) throw SpecError(file, ck.problems);
  spec.hash = sha256_hex(doc.dump());
  return spec;
}

Spec load_spec(const std::string& path, const PluginRegistry& plugins) {
  std::ifstream in(path);
  if (!in) throw UserError(fmt::format("cannot open experiment spec '{}'", path));
  std::stringstream ss;
  ss << in.rdbuf();
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
  }
  return parse_spec(doc, path, plugins);
}

}  // namespace featjnd
