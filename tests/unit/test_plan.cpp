#include <doctest/doctest.h>

#include <set>

#include "spec/plan.h"
#include "spec/spec.h"
#include "test_support.h"

using namespace featjnd;
using featjnd::test::toy_plugins;
using featjnd::test::toy_spec;

namespace {
Plan plan_of(const nlohmann::json& doc) {
  FileHasher h;
  return expand(parse_spec(doc, "spec.json", toy_plugins()), toy_plugins(), h);
}
std::map<std::string, int> count_by_stage(const Plan& p) {
  std::map<std::string, int> c;
  for (auto& r : p.runs) c[r.stage]++;
  return c;
}
}  // namespace

TEST_CASE("the grid expands per stage over the parameters that stage depends on") {
  Plan p = plan_of(toy_spec());
  auto c = count_by_stage(p);
  CHECK(c["prepare"] == 1);
  CHECK(c["fit"] == 2);        // λ only: α does not change a fit
  CHECK(c["eval-fit"] == 6);   // λ × α
  CHECK(c["eval-noise"] == 6); // σ × seed
  CHECK(p.runs.size() == 15);
}

TEST_CASE("dependencies come first and match the swept values") {
  Plan p = plan_of(toy_spec());
  std::set<std::string> hashes;
  for (auto& r : p.runs) {
    hashes.insert(r.hash);
    for (size_t d : r.deps) CHECK(d < r.index);
    if (r.stage == "eval-fit") {
      REQUIRE(r.deps.size() == 1);
      const auto& fit = p.runs[r.deps[0]];
      CHECK(fit.stage == "fit");
      CHECK(fit.params.at("fitted.lambda") == r.params.at("fitted.lambda"));
      CHECK(p.runs[r.root].stage == "prepare");
    }
    if (r.stage == "eval-noise") CHECK(p.runs[r.deps.at(0)].stage == "prepare");
  }
  CHECK(hashes.size() == p.runs.size());
}

TEST_CASE("hashes are stable and change only with what a run depends on") {
  Plan a = plan_of(toy_spec());
  Plan b = plan_of(toy_spec());
  for (size_t i = 0; i < a.runs.size(); ++i) CHECK(a.runs[i].hash == b.runs[i].hash);

  // An evaluation-only parameter leaves prepare and fit runs as they were.
  auto d = toy_spec();
  d["components"]["noise"]["params"] = {{"sleep_ms", 5}};
  Plan c = plan_of(d);
  for (size_t i = 0; i < a.runs.size(); ++i) {
    if (a.runs[i].stage == "eval-noise")
      CHECK(a.runs[i].hash != c.runs[i].hash);
    else
      CHECK(a.runs[i].hash == c.runs[i].hash);
  }

  // A training parameter of the task network changes every run downstream, through the inputs.
  d = toy_spec();
  d["components"]["task"]["params"]["epochs"] = 2;
  Plan e = plan_of(d);
  for (size_t i = 0; i < a.runs.size(); ++i) CHECK(a.runs[i].hash != e.runs[i].hash);
}

TEST_CASE("equal values swept twice give one run") {
  auto d = toy_spec();
  d["sweep"]["noise"]["sigma"] = {0.1, 0.1};
  auto c = count_by_stage(plan_of(d));
  CHECK(c["eval-noise"] == 3);
}

TEST_CASE("a whole component can be swept, and the seed") {
  auto d = toy_spec();
  d["sweep"]["backbone"] = nlohmann::json::array({{{"plugin", "toy-conv"}, {"params", {{"channels", 4}}}},
                                                  {{"plugin", "toy-conv"}, {"params", {{"channels", 8}}}}});
  d["sweep"]["seed"] = {0, 1};
  Plan p = plan_of(d);
  auto c = count_by_stage(p);
  CHECK(c["prepare"] == 4);
  CHECK(c["eval-noise"] == 24);
  CHECK(p.runs.size() == 4 * 15);
}

TEST_CASE("shards partition the runs and keep each run's upstream runs") {
  Plan p = plan_of(toy_spec());
  std::map<size_t, int> seen;
  for (int i = 0; i < 3; ++i) {
    auto sel = shard_runs(p, i, 3);
    std::set<size_t> in(sel.begin(), sel.end());
    for (size_t r : sel) {
      for (size_t d : p.runs[r].deps) CHECK(in.count(d) == 1);
      seen[r]++;
    }
  }
  CHECK(seen.size() == p.runs.size());
  // Leaves (evaluations) are in exactly one shard.
  for (auto& r : p.runs)
    if (r.type == "evaluate") CHECK(seen[r.index] == 1);
  CHECK(shard_runs(p, 0, 1).size() == p.runs.size());
}

TEST_CASE("an evaluation after a fit does not expand over the fitted distortion's evaluation parameters") {
  // Like quantization guided by a fitted FeatJND: it reads the fit's artifacts, not its α.
  auto d = toy_spec();
  d["stages"].push_back({{"name", "noise-after-fit"}, {"type", "evaluate"}, {"after", "fit"}, {"distortion", "noise"}});
  Plan p = plan_of(d);
  auto c = count_by_stage(p);
  CHECK(c["noise-after-fit"] == 2 * 6);  // λ × (σ × seed), not × α
  for (auto& r : p.runs)
    if (r.stage == "noise-after-fit") CHECK_FALSE(r.config["components"].contains("fitted"));
}

TEST_CASE("runs share a network key exactly when they share prepared weights and backbone/task settings") {
  auto d = toy_spec();
  d["components"]["backbone"]["plugin"] = "toy-conv";
  d["sweep"]["backbone"] = {{"levels", {1, 2}}};  // levels: a backbone setting that changes the features
  Plan p = plan_of(d);
  std::map<std::string, std::set<int64_t>> levels_by_key;
  std::set<std::string> keys;
  for (auto& r : p.runs) {
    keys.insert(r.network_key);
    levels_by_key[r.network_key].insert(r.params.at("backbone.levels").get<int64_t>());
  }
  CHECK(keys.size() == 2);
  for (auto& [k, v] : levels_by_key) CHECK(v.size() == 1);
}

TEST_CASE("labels name every swept value a run depends on") {
  Plan p = plan_of(toy_spec());
  for (auto& r : p.runs)
    if (r.stage == "eval-fit") {
      CHECK(r.label.find("fitted.lambda=") != std::string::npos);
      CHECK(r.label.find("fitted.alpha=") != std::string::npos);
    }
}
