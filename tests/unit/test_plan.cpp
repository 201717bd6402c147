#include <doctest/doctest.h>

#include <algorithm>
#include <map>
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

TEST_CASE("shards partition the runs: each run in one shard, each phase and stage type cut evenly") {
  auto d = toy_spec();
  d["sweep"]["backbone"] = {{"channels", {4, 8}}};  // two networks
  Plan p = plan_of(d);
  const auto phase = phases(p);
  for (auto& r : p.runs)
    for (size_t up : r.deps) CHECK(phase[r.index] > phase[up]);  // upstream runs come in earlier phases
  for (int n : {1, 3, 5, 40}) {
    CAPTURE(n);
    std::map<size_t, int> seen;
    std::map<std::pair<int, std::string>, std::vector<int>> per_shard;  // (phase, type) -> runs per shard
    for (int i = 0; i < n; ++i) {
      auto sel = shard_runs(p, i, n);
      CHECK(std::is_sorted(sel.begin(), sel.end()));  // dependency order
      std::map<std::pair<int, std::string>, int> here;
      for (size_t r : sel) seen[r]++, here[{phase[r], p.runs[r].type}]++;
      for (auto& [k, v] : here) per_shard[k].resize(static_cast<size_t>(n)), per_shard[k][static_cast<size_t>(i)] = v;
    }
    CHECK(seen.size() == p.runs.size());
    for (auto& [r, times] : seen) CHECK(times == 1);
    for (auto& [k, counts] : per_shard) {
      counts.resize(static_cast<size_t>(n));
      auto [lo, hi] = std::minmax_element(counts.begin(), counts.end());
      CHECK(*hi - *lo <= 1);  // balanced within every phase and stage type
    }
  }
  // With as many shards as evaluations of one network, no shard mixes the two networks' evaluations.
  auto sel = shard_runs(p, 0, 2);
  std::set<size_t> roots;
  for (size_t r : sel)
    if (p.runs[r].type == "evaluate") roots.insert(p.runs[r].root);
  CHECK(roots.size() == 1);
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

TEST_CASE("cases: parameters of several components vary together, one point per case") {
  auto doc = toy_spec();
  doc["sweep"].erase("noise");
  // Two models, each with its own backbone width and training length: 2 networks, not 2 × 2.
  doc["cases"] = {{"model",
                   {{{"name", "narrow"}, {"backbone.channels", 2}, {"task.epochs", 1}},
                    {{"name", "wide"}, {"backbone.channels", 8}, {"task.epochs", 3}}}}};
  Plan p = plan_of(doc);
  auto c = count_by_stage(p);
  CHECK(c["prepare"] == 2);
  CHECK(c["fit"] == 4);       // 2 models × 2 λ
  CHECK(c["eval-fit"] == 12);  // × 3 α
  CHECK(c["eval-noise"] == 2);
  std::set<std::pair<int64_t, int64_t>> pairs;
  for (auto& r : p.runs)
    if (r.stage == "prepare") {
      pairs.insert({r.params.at("backbone.channels").get<int64_t>(), r.params.at("task.epochs").get<int64_t>()});
      CHECK(r.label.find("model=") == 0);
    }
  CHECK(pairs == std::set<std::pair<int64_t, int64_t>>{{2, 1}, {8, 3}});
  // A case can swap a whole component and set the seed.
  doc["cases"]["model"][0]["backbone"] = {{"plugin", "toy-conv"}, {"params", {{"channels", 3}}}};
  doc["cases"]["model"][0].erase("backbone.channels");
  doc["cases"]["model"][1]["backbone"] = {{"plugin", "toy-conv"}, {"params", {{"channels", 5}}}};
  doc["cases"]["model"][1].erase("backbone.channels");
  doc["cases"]["model"][0]["seed"] = 4;
  doc["cases"]["model"][1]["seed"] = 9;
  Plan q = plan_of(doc);
  std::set<std::pair<int64_t, int64_t>> seeded;
  for (auto& r : q.runs)
    if (r.stage == "prepare") seeded.insert({r.params.at("backbone.channels").get<int64_t>(), r.params.at("seed").get<int64_t>()});
  CHECK(seeded == std::set<std::pair<int64_t, int64_t>>{{3, 4}, {5, 9}});
}

TEST_CASE("overrides: --set changes a spec field by dotted path or JSON pointer, and says where") {
  auto doc = toy_spec();
  auto applied = apply_overrides(doc, {"components.task.params.epochs=2", "/sweep/noise/sigma/1=0.5", "description=a b"},
                                 "spec.json");
  REQUIRE(applied.size() == 3);
  CHECK(applied[0].pointer == "/components/task/params/epochs");
  CHECK(doc["components"]["task"]["params"]["epochs"] == 2);
  CHECK(doc["sweep"]["noise"]["sigma"][1] == 0.5);
  CHECK(doc["description"] == "a b");  // not JSON: a string
  Plan p = plan_of(doc);
  for (auto& r : p.runs)
    if (r.stage == "prepare") CHECK(r.params.at("task.epochs") == 2);
  auto error_of = [&](const std::string& a) {
    auto d = toy_spec();
    try {
      apply_overrides(d, {a}, "spec.json");
    } catch (const SpecError& e) {
      return e.problems().at(0);
    }
    return std::string();
  };
  CHECK(error_of("components.nothere.params.x=1").find("/components/nothere does not exist in the spec") != std::string::npos);
  CHECK(error_of("/sweep/noise/sigma/7=1").find("has 2 elements") != std::string::npos);
  CHECK(error_of("epochs").find("expected PATH=VALUE") != std::string::npos);
  CHECK(error_of("name.x=1").find("/name is not an object or array") != std::string::npos);
}

TEST_CASE("a grid past the limit is refused before it is expanded") {
  auto doc = toy_spec();
  Spec spec = parse_spec(doc, "spec.json", toy_plugins());
  auto g = grid_size(spec, toy_plugins());
  CHECK(g.runs == 15);  // the toy grid: nothing merged
  CHECK(g.largest_stage == "eval-fit");
  FileHasher h;
  CHECK_THROWS_WITH(expand(spec, toy_plugins(), h, 14), doctest::Contains("the grid has 15 runs, more than the limit of 14"));
  CHECK(expand(spec, toy_plugins(), h, 15).runs.size() == 15);

  // Over a million runs (backbone 10 × task 10 × σ 10 × 1000 seeds for the noise evaluations
  // alone): counted at once, refused before one run is built.
  nlohmann::json ten = nlohmann::json::array(), thousand = nlohmann::json::array();
  for (int i = 0; i < 10; ++i) ten.push_back(0.1 * (i + 1));
  for (int i = 0; i < 1000; ++i) thousand.push_back(i);
  doc["sweep"]["noise"] = {{"sigma", ten}, {"seed", thousand}};
  doc["sweep"]["fitted"] = {{"lambda", ten}, {"alpha", ten}};
  doc["sweep"]["task"] = {{"epochs", nlohmann::json::array({1, 2, 3, 4, 5, 6, 7, 8, 9, 10})}};
  doc["sweep"]["backbone"] = {{"channels", nlohmann::json::array({1, 2, 3, 4, 5, 6, 7, 8, 9, 10})}};
  Spec big = parse_spec(doc, "big.json", toy_plugins());
  g = grid_size(big, toy_plugins());
  CHECK(g.runs == 100 + 1'000 + 10'000 + 1'000'000);
  CHECK_THROWS_WITH(expand(big, toy_plugins(), h), doctest::Contains("big.json: the grid has"));
  CHECK_THROWS_WITH(expand(big, toy_plugins(), h), doctest::Contains("--max-runs"));
}
