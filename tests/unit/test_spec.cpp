#include <doctest/doctest.h>

#include <algorithm>

#include "spec/spec.h"
#include "test_support.h"

using namespace featjnd;
using featjnd::test::toy_plugins;
using featjnd::test::toy_spec;

namespace {

std::vector<std::string> problems_of(const nlohmann::json& doc) {
  try {
    parse_spec(doc, "spec.json", toy_plugins());
  } catch (const SpecError& e) {
    return e.problems();
  }
  return {};
}

bool has_problem(const std::vector<std::string>& problems, const std::string& pointer, const std::string& text) {
  return std::any_of(problems.begin(), problems.end(), [&](const std::string& p) {
    return p.rfind(pointer + ": ", 0) == 0 && p.find(text) != std::string::npos;
  });
}

}  // namespace

TEST_CASE("the toy plugins are loaded") {
  REQUIRE(toy_plugins().errors().empty());
  CHECK(toy_plugins().find("backbone", "toy-conv"));
  CHECK(toy_plugins().find("task", "toy-classify"));
  CHECK(toy_plugins().find("distortion", "toy-noise"));
  CHECK(toy_plugins().find("distortion", "toy-fit"));
}

TEST_CASE("a valid spec parses, with stages in dependency order and one axis per swept parameter") {
  auto doc = toy_spec();
  // Put the evaluation before its upstream stages: the parser orders them.
  std::swap(doc["stages"][0], doc["stages"][3]);
  Spec s = parse_spec(doc, "spec.json", toy_plugins());
  CHECK(s.name == "toy");
  CHECK(s.database == "results/toy.db");
  CHECK(s.devices == std::vector<std::string>{"cpu"});
  REQUIRE(s.stages.size() == 4);
  CHECK(s.stages[0].name == "prepare");
  CHECK(s.components.at("noise").kind == "distortion");
  CHECK(s.components.at("backbone").kind == "backbone");
  CHECK(s.axes.size() == 4);
  CHECK(s.hash.size() == 64);
}

TEST_CASE("each class of error names its JSON pointer and what was expected") {
  SUBCASE("unknown key") {
    auto d = toy_spec();
    d["colour"] = "red";
    CHECK(has_problem(problems_of(d), "/colour", "unknown key; expected one of"));
  }
  SUBCASE("wrong type") {
    auto d = toy_spec();
    d["seed"] = "zero";
    CHECK(has_problem(problems_of(d), "/seed", "is not an integer"));
    d = toy_spec();
    d["stages"][0]["name"] = 3;
    CHECK(has_problem(problems_of(d), "/stages/0/name", "expected a string, got an integer"));
  }
  SUBCASE("unknown plugin") {
    auto d = toy_spec();
    d["components"]["backbone"]["plugin"] = "resnt";
    CHECK(has_problem(problems_of(d), "/components/backbone/plugin", "unknown backbone plugin 'resnt'; available: toy-conv"));
  }
  SUBCASE("unknown parameter") {
    auto d = toy_spec();
    d["components"]["task"]["params"]["epoch"] = 2;
    CHECK(has_problem(problems_of(d), "/components/task/params/epoch", "unknown parameter of task plugin 'toy-classify'"));
  }
  SUBCASE("out-of-range value in a sweep") {
    auto d = toy_spec();
    d["sweep"]["noise"]["sigma"] = {0.1, 0.2, 0.3, -1};
    CHECK(has_problem(problems_of(d), "/sweep/noise/sigma/3", "-1 is not a number in [0, 1000]"));
  }
  SUBCASE("integer expected") {
    auto d = toy_spec();
    d["components"]["task"]["params"]["epochs"] = 1.5;
    CHECK(has_problem(problems_of(d), "/components/task/params/epochs", "is not an integer in [0, 1000]"));
  }
  SUBCASE("string choice") {
    auto d = toy_spec();
    d["components"]["task"]["params"]["note"] = "c";
    CHECK(has_problem(problems_of(d), "/components/task/params/note", "is not one of \"a\", \"b\""));
  }
  SUBCASE("device") {
    auto d = toy_spec();
    d["devices"] = {"cpu", "gpu0"};
    CHECK(has_problem(problems_of(d), "/devices/1", "expected \"cpu\", \"cpu:N\""));
    d["devices"] = {"cpu", "cpu:0"};
    CHECK(has_problem(problems_of(d), "/devices/1", "device \"cpu:0\" is listed twice"));
    d["devices"] = {"cuda:99999999999"};
    CHECK(has_problem(problems_of(d), "/devices/0", "(N < 1024)"));
    CHECK(check_devices({}) == "no device given; expected a comma-separated list such as cpu or cuda:0,cuda:1");
    CHECK(check_devices({"cpu:0", "cpu:1", "cuda:0"}).empty());
    CHECK(check_devices({"cpu", ""}).find("device 2 of 2 is empty") == 0);
  }
  SUBCASE("a component alternative whose plugin is not a string (found by the spec fuzzer: an escaped type_error)") {
    auto d = toy_spec();
    d["sweep"]["noise"] = nlohmann::json::array({{{"plugin", {{"x", 1}}}}});
    CHECK(has_problem(problems_of(d), "/sweep/noise/0/plugin", "expected a plugin name, got an object"));
  }
  SUBCASE("stage links") {
    auto d = toy_spec();
    d["stages"][1]["after"] = "prepar";
    CHECK(has_problem(problems_of(d), "/stages/1/after", "unknown stage \"prepar\""));
    d = toy_spec();
    d["stages"][2]["type"] = "train";
    CHECK(has_problem(problems_of(d), "/stages/2/type", "not a stage type"));
    d = toy_spec();
    d["stages"][1]["after"] = "eval-noise";
    CHECK(has_problem(problems_of(d), "/stages/1/after", "is an evaluation"));
  }
  SUBCASE("unused and unknown components") {
    auto d = toy_spec();
    d["components"]["spare"] = {{"plugin", "toy-noise"}};
    CHECK(has_problem(problems_of(d), "/components/spare", "not used by any stage"));
    d = toy_spec();
    d["stages"][3]["distortion"] = "nois";
    CHECK(has_problem(problems_of(d), "/stages/3/distortion", "unknown component \"nois\""));
  }
  SUBCASE("sweep shape") {
    auto d = toy_spec();
    d["sweep"]["noise"]["sigma"] = nlohmann::json::array();
    CHECK(has_problem(problems_of(d), "/sweep/noise/sigma", "non-empty"));
    d = toy_spec();
    d["sweep"]["nosie"] = {{"sigma", {1}}};
    CHECK(has_problem(problems_of(d), "/sweep/nosie", "unknown component"));
    d = toy_spec();
    d["sweep"]["noise"]["sigmaa"] = {1};
    CHECK(has_problem(problems_of(d), "/sweep/noise/sigmaa", "unknown parameter"));
  }
}

TEST_CASE("cases are validated like the rest, with JSON pointers") {
  auto with_cases = [](nlohmann::json cases) {
    auto d = toy_spec();
    d["cases"] = cases;
    return problems_of(d);
  };
  auto p = with_cases({{"model", {{{"backbone.channels", 2}}, {{"backbone.channels", 4}, {"task.epochs", 1}}}}});
  CHECK(has_problem(p, "/cases/model/1", "sets other keys than /cases/model/0"));
  p = with_cases({{"model", {{{"backbone.channel", 2}}}}});
  CHECK(has_problem(p, "/cases/model/0/backbone.channel", "unknown parameter of backbone plugin 'toy-conv'"));
  p = with_cases({{"model", {{{"backbone.channels", 999}}}}});
  CHECK(has_problem(p, "/cases/model/0/backbone.channels", "999 is not"));
  p = with_cases({{"model", {{{"gadget.x", 1}}}}});
  CHECK(has_problem(p, "/cases/model/0/gadget.x", "unknown key"));
  p = with_cases({{"model", {{{"name", "a"}, {"seed", 1}}, {{"name", "a"}, {"seed", 2}}}}});
  CHECK(has_problem(p, "/cases/model/1/name", "case name \"a\" is used twice"));
  // A target varies in one place only: /sweep already varies fitted.lambda.
  p = with_cases({{"model", {{{"fitted.lambda", 0.5}}}}});
  CHECK(has_problem(p, "/cases/model", "fitted.lambda is also varied by /sweep/fitted/lambda"));
  p = with_cases({{"backbone", {{{"seed", 1}}}}});
  CHECK(has_problem(p, "/cases/backbone", "a case group needs a name of its own"));
  p = with_cases({{"model", nlohmann::json::array()}});
  CHECK(has_problem(p, "/cases/model", "expected a non-empty array of cases"));
}

TEST_CASE("all problems are reported together, one line each") {
  auto d = toy_spec();
  d["colour"] = 1;
  d["seed"] = -4;
  d["sweep"]["noise"]["sigma"] = {-1, -2};
  auto p = problems_of(d);
  CHECK(p.size() == 4);
  for (auto& line : p) CHECK(line.find('\n') == std::string::npos);
}

TEST_CASE("an invalid JSON file is reported with its line and column") {
  CHECK_THROWS_WITH_AS(load_spec(FEATJND_TEST_SOURCE_DIR "/specs/broken_json.json", toy_plugins()),
                       doctest::Contains("line 3 column"), SpecError);
}
