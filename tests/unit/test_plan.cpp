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
