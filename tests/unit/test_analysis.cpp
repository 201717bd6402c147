// The analysis layer against a database made by hand: grouping by every varying parameter, seeds
// averaged, the matched-NRMSE interpolation and its win count, quantization at matched budget and
// at matched measured NRMSE, Table 2 — each value computed by hand below.
#include <doctest/doctest.h>

#include <filesystem>
#include <unistd.h>

#include "analysis/evaluations.h"
#include "analysis/rate.h"
#include "analysis/table2.h"
#include "analysis/tables.h"
#include "spec/plan.h"
#include "store/store.h"

namespace fs = std::filesystem;
using namespace featjnd;
using namespace featjnd::analysis;
using nlohmann::json;

namespace {

// A results database written through the store, runs described as the planner describes them.
class HandMadeDb {
 public:
  HandMadeDb() : dir_(fs::temp_directory_path() / ("featjnd-analysis-" + std::to_string(getpid()))) {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    store_ = std::make_unique<Store>((dir_ / "r.db").string(), Store::Open::create);
    exp_ = store_->ensure_experiment("hand", "");
  }
  ~HandMadeDb() { fs::remove_all(dir_); }
  Store& store() { return *store_; }

  // `components`: name -> {kind, plugin, params}; `relevant`: name -> the params this stage hashes.
  int64_t run(const std::string& type, json components, json relevant, std::vector<int64_t> deps, int64_t seed,
              std::map<std::string, double> metrics) {
    PlannedRun r;
    r.type = r.stage = type;
    r.hash = "h" + std::to_string(++n_);
    r.label = r.hash;
    json roles = json::object(), hashed = json::object();
    for (auto& [name, c] : components.items()) {
      roles[c["kind"].get<std::string>()] = name;
      json hp = json::object();
      for (auto& k : relevant.value(name, json::array())) hp[k.get<std::string>()] = c["params"][k.get<std::string>()];
      hashed[name] = {{"plugin", c["plugin"]}, {"params", hp}};
    }
    r.config = {{"stage", type}, {"type", type}, {"seed", seed}, {"roles", roles},
                {"components", components}, {"hashed", hashed}, {"inputs", json::array()}};
    auto state = store_->add_run(exp_, r, deps);
    std::vector<MetricRow> rows;
    for (auto& [k, v] : metrics) rows.push_back({state.id, k, v, 0, 0.0});
    store_->finish(state.id, rows);
    return state.id;
  }

 private:
  fs::path dir_;
  std::unique_ptr<Store> store_;
  int64_t exp_ = 0;
  int n_ = 0;
};

json backbone(const char* arch) { return {{"kind", "backbone"}, {"plugin", "resnet"}, {"params", {{"arch", arch}}}}; }
const json kTask = {{"kind", "task"}, {"plugin", "classification"}, {"params", {{"temperature", 1.0}}}};
const json kNet = {{"backbone", {"arch"}}};

// Two networks (resnet18 with two fits, λ 0.1 and 1; resnet34 with Gaussian noise only).
struct Fixture {
  HandMadeDb db;
  int64_t r18, fit01, fit1, r34;
  Fixture() {
    r18 = db.run("prepare", {{"backbone", backbone("resnet18")}, {"task", kTask}}, kNet, {}, 0, {});
    r34 = db.run("prepare", {{"backbone", backbone("resnet34")}, {"task", kTask}}, kNet, {}, 0, {});
    auto fit = [&](double lambda) {
      json fj = {{"kind", "distortion"}, {"plugin", "featjnd"}, {"params", {{"lambda", lambda}, {"alpha", 1.0}}}};
      return db.run("fit", {{"backbone", backbone("resnet18")}, {"task", kTask}, {"featjnd", fj}},
                    {{"featjnd", {"lambda"}}, {"task", {"temperature"}}}, {r18}, 0, {});
    };
    fit01 = fit(0.1), fit1 = fit(1.0);
    // Gaussian: seed 0 falls 0.80 -> 0.60 over NRMSE 1 -> 2, seed 1 0.70 -> 0.50.
    for (int64_t net : {r18, r34})
      for (auto [seed, sigma, nrmse, top1] : std::vector<std::tuple<int, double, double, double>>{
               {0, 1, 1.0, 0.80}, {0, 2, 2.0, 0.60}, {1, 1, 1.0, 0.70}, {1, 2, 2.0, 0.50}})
        eval(net, "gaussian", "gaussian", {{"sigma", sigma}, {"seed", seed}}, {"sigma", "seed"}, nrmse, top1);
    // FeatJND at λ 0.1: α 1 at NRMSE 1.5 (Gaussian there: 0.70 and 0.60), α 2 at NRMSE 0.5 (outside).
    eval(fit01, "featjnd", "featjnd", {{"alpha", 1.0}, {"mode", "adaptive"}}, {"alpha", "mode"}, 1.5, 0.85);
    eval(fit01, "featjnd", "featjnd", {{"alpha", 2.0}, {"mode", "adaptive"}}, {"alpha", "mode"}, 0.5, 0.88);
    eval(fit1, "featjnd", "featjnd", {{"alpha", 1.0}, {"mode", "adaptive"}}, {"alpha", "mode"}, 1.0, 0.90);
    // Quantization at λ 0.1; uniform needs no fit.
    eval(fit01, "quant-featjnd", "quant-featjnd", {{"sigma_q", 0.1}}, {"sigma_q"}, 0.4, 0.88);
    eval(fit01, "quant-featjnd", "quant-featjnd", {{"sigma_q", 0.2}}, {"sigma_q"}, 0.8, 0.80);
    for (auto [seed, sq, nrmse, top1] : std::vector<std::tuple<int, double, double, double>>{
             {0, 0.1, 0.5, 0.84}, {0, 0.2, 1.0, 0.70}, {1, 0.1, 0.5, 0.86}, {1, 0.2, 1.0, 0.74}})
      eval(fit01, "quant-random", "quant-random", {{"sigma_q", sq}, {"seed", seed}}, {"sigma_q", "seed"}, nrmse, top1);
    eval(r18, "quant-uniform", "quant-uniform", {{"sigma_q", 0.1}}, {"sigma_q"}, 0.6, 0.82);
    eval(r18, "quant-uniform", "quant-uniform", {{"sigma_q", 0.2}}, {"sigma_q"}, 1.2, 0.60);
  }
  void eval(int64_t up, const std::string& name, const std::string& plugin, json params, json relevant, double nrmse,
            double top1) {
    const bool on_r34 = up == r34;
    json comps = {{"backbone", backbone(on_r34 ? "resnet34" : "resnet18")}, {"task", kTask},
                  {name, {{"kind", "distortion"}, {"plugin", plugin}, {"params", params}}}};
    db.run("evaluate", comps, {{name, relevant}}, {up}, 0, {{"top1", top1}, {"nrmse", nrmse}, {"clean.top1", 0.90}});
  }
};

const Group* group_with(const Analysis& a, const std::string& label) {
  for (auto& g : a.groups)
    if (g.label == label) return &g;
  return nullptr;
}

}  // namespace

TEST_CASE("analysis: a group per varying setting; a run without a fit joins every setting it agrees with") {
  Fixture f;
  auto evals = load_evaluations(f.db.store().db());
  CHECK(evals.size() == 8 + 3 + 2 + 4 + 2);
  auto a = analyse(evals, "top1");
  CHECK(a.varying == std::vector<std::string>{"backbone.arch", "featjnd.lambda"});
  REQUIRE(a.groups.size() == 3);
  auto* g01 = group_with(a, "resnet18 lambda=0.1");
  auto* g1 = group_with(a, "resnet18 lambda=1.0");
  auto* g34 = group_with(a, "resnet34");
  REQUIRE(g01);
  REQUIRE(g1);
  REQUIRE(g34);
  // Both fits of resnet18 share its Gaussian runs; resnet34's are its own.
  REQUIRE(g01->curve("gaussian"));
  CHECK(g01->curve("gaussian")->points.size() == 2);
  CHECK(g1->curve("gaussian")->points.at(0).runs.size() == 2);  // two seeds averaged
  CHECK(g1->curve("featjnd")->points.size() == 1);              // λ 1 alone, not mixed with λ 0.1
  CHECK(g34->curve("featjnd") == nullptr);
  CHECK(g01->curve("gaussian")->points.at(0).metric.mean == doctest::Approx(0.75));
  CHECK(g01->curve("gaussian")->points.at(0).metric.std == doctest::Approx(0.0707107));
  CHECK(g01->clean.mean == doctest::Approx(0.90));
}

TEST_CASE("analysis: FeatJND against Gaussian noise interpolated per seed at the same NRMSE") {
  Fixture f;
  auto evals = load_evaluations(f.db.store().db());
  auto a = analyse(evals, "top1");
  auto* g = group_with(a, "resnet18 lambda=0.1");
  REQUIRE(g);
  auto m = match_nrmse(*g, *g->curve("featjnd"), *g->curve("gaussian"), "top1");
  REQUIRE(m.rows.size() == 2);
  // α 1 at NRMSE 1.5: Gaussian 0.70 (seed 0) and 0.60 (seed 1).
  CHECK(m.rows[0].baseline.mean == doctest::Approx(0.65));
  CHECK(m.rows[0].baseline.std == doctest::Approx(0.0707107));
  CHECK(m.rows[0].diff == doctest::Approx(0.20));
  CHECK(m.rows[0].baseline_drop == doctest::Approx(0.25));
  // α 2 at NRMSE 0.5 lies outside the Gaussian curve: not compared.
  CHECK(std::isnan(m.rows[1].baseline.mean));
  CHECK(m.wins == 1);
  CHECK(m.counted == 1);
}

TEST_CASE("analysis: quantization at the nominal budget and at the guided quantizer's measured NRMSE") {
  Fixture f;
  auto a = analyse(load_evaluations(f.db.store().db()), "top1");
  auto* g = group_with(a, "resnet18 lambda=0.1");
  REQUIRE(g);
  auto qs = quantization(*g, "top1");
  REQUIRE(qs.size() == 1);
  auto& q = qs[0];
  REQUIRE(q.rows.size() == 2);
  CHECK(q.rows[1].random.mean == doctest::Approx(0.72));
  CHECK(q.rows[1].uniform.mean == doctest::Approx(0.60));
  // At NRMSE 0.8: random 0.84 + (0.70 − 0.84)·0.6 = 0.756 and 0.86 + (0.74 − 0.86)·0.6 = 0.788;
  // uniform 0.82 + (0.60 − 0.82)·(0.2 / 0.6).
  CHECK(q.rows[1].random_at.mean == doctest::Approx(0.772));
  CHECK(q.rows[1].uniform_at.mean == doctest::Approx(0.82 - 0.22 / 3));
  // At NRMSE 0.4 neither curve reaches: nothing is interpolated there.
  CHECK(std::isnan(q.rows[0].random_at.mean));
  CHECK(q.above_random == 2);
  CHECK(q.compared_random == 2);
  CHECK(q.above_random_at == 1);
  CHECK(q.compared_random_at == 1);
  CHECK(q.compared_uniform_at == 1);
}

TEST_CASE("analysis: runs with a parameter and runs from before it existed are two curves, not seeds of one") {
  Fixture f;
  // quant-featjnd again at the same budgets, from a plugin version that has steps_per_octave.
  f.eval(f.fit01, "quant-featjnd", "quant-featjnd", {{"sigma_q", 0.1}, {"steps_per_octave", 2}},
         {"sigma_q", "steps_per_octave"}, 0.4, 0.60);
  f.eval(f.fit01, "quant-featjnd", "quant-featjnd", {{"sigma_q", 0.2}, {"steps_per_octave", 2}},
         {"sigma_q", "steps_per_octave"}, 0.8, 0.50);
  auto a = analyse(load_evaluations(f.db.store().db()), "top1");
  auto* g = group_with(a, "resnet18 lambda=0.1");
  REQUIRE(g);
  std::vector<const Curve*> guided;
  for (auto& c : g->curves)
    if (c.method == "quant-featjnd") guided.push_back(&c);
  REQUIRE(guided.size() == 2);
  CHECK(guided[0]->label == "quant-featjnd");
  CHECK(guided[1]->label == "quant-featjnd steps_per_octave=2");
  for (auto* c : guided) {
    REQUIRE(c->points.size() == 2);
    CHECK(c->points[0].runs.size() == 1);  // not averaged with the other version's run
  }
  CHECK(guided[0]->points[0].metric.mean == doctest::Approx(0.88));
  CHECK(guided[1]->points[0].metric.mean == doctest::Approx(0.60));
}

TEST_CASE("Table 2 from the database: FeatJND-based, Random mean ± std, Δ, Uniform per budget") {
  Fixture f;
  auto blocks = table2(load_evaluations(f.db.store().db()));
  REQUIRE(blocks.size() == 1);
  auto& b = blocks[0];
  CHECK(b.task == "classification");
  CHECK(b.columns == std::vector<std::string>{"resnet18 lambda=0.1"});
  CHECK(b.budgets == std::vector<double>{0.1, 0.2});
  CHECK(b.cells[0][0].guided.mean == doctest::Approx(0.88));
  CHECK(b.cells[0][0].random.mean == doctest::Approx(0.85));
  CHECK(b.cells[0][0].random.n == 2);
  auto text = render_table2(blocks, "text");
  CHECK(text.find("85.00 ± 1.41") != std::string::npos);
  CHECK(text.find("+3.00") != std::string::npos);
  auto csv = render_table2(blocks, "csv");
  CHECK(csv.find("classification,top1,0.1,delta,\"resnet18 lambda=0.1\",0.03,") != std::string::npos);
  auto latex = render_table2(blocks, "latex");
  CHECK(latex.find("$85.00 \\pm 1.41$") != std::string::npos);
  CHECK(latex.find("\\begin{tabular}{llr}") != std::string::npos);
}

TEST_CASE("BD-rate: hand-computed cases (PCHIP reproduces a line; a constant log-rate offset)") {
  // log r linear in accuracy, the test curve 20 % cheaper at every accuracy: −20 % exactly.
  std::vector<std::pair<double, double>> anchor, test;
  for (double acc : {0.5, 0.6, 0.7, 0.8}) {
    anchor.push_back({std::exp(10 * acc), acc});
    test.push_back({0.8 * std::exp(10 * acc), acc});
  }
  auto r = bd_rate(anchor, test);
  CHECK(r.percent == doctest::Approx(-20.0).epsilon(1e-9));
  CHECK(r.low == doctest::Approx(0.5));
  CHECK(r.high == doctest::Approx(0.8));
  // Partly overlapping ranges: log r = 10·acc on [0.5, 0.9] and 10·acc − 0.1 on [0.6, 1.0];
  // over [0.6, 0.9] the mean log difference is −0.1: BD-rate = e^−0.1 − 1.
  anchor.clear(), test.clear();
  for (double acc : {0.5, 0.6, 0.7, 0.8, 0.9}) anchor.push_back({std::exp(10 * acc), acc});
  for (double acc : {0.6, 0.75, 0.9, 1.0}) test.push_back({std::exp(10 * acc - 0.1), acc});
  r = bd_rate(anchor, test);
  CHECK(r.percent == doctest::Approx(100 * (std::exp(-0.1) - 1)).epsilon(1e-9));
  CHECK(r.low == doctest::Approx(0.6));
  // The high-accuracy range: the same offset above a cut, the range starting at the cut; a cut
  // above both curves' ends leaves no range, and says so.
  auto high = bd_rate(anchor, test, 0.82);
  CHECK(high.percent == doctest::Approx(100 * (std::exp(-0.1) - 1)).epsilon(1e-9));
  CHECK(high.low == doctest::Approx(0.82));
  CHECK(high.high == doctest::Approx(0.9));
  auto above = bd_rate(anchor, test, 0.95);
  CHECK(std::isnan(above.percent));
  CHECK(above.why == "not comparable: the curves share no accuracy range above 0.95");
  // No shared accuracy range: no number, and why.
  auto apart = bd_rate({{1, 0.1}, {2, 0.2}, {3, 0.25}, {4, 0.3}}, {{1, 0.5}, {2, 0.6}, {3, 0.65}, {4, 0.7}});
  CHECK(std::isnan(apart.percent));
  CHECK(apart.why == "not comparable: the curves share no accuracy range");
  // Fewer than 4 accuracy points on a curve (the conventional minimum): none, and why.
  auto three = bd_rate({{1, 0.5}, {2, 0.6}, {3, 0.7}}, {{1, 0.5}, {2, 0.6}, {3, 0.65}, {4, 0.7}});
  CHECK(std::isnan(three.percent));
  CHECK(three.why == "not comparable: 3 and 4 accuracy points; BD-rate needs at least 4 per curve");
  // PCHIP keeps monotone data monotone (no overshoot between the steps of a staircase).
  std::vector<double> x = {0, 1, 2, 3}, y = {0, 0, 1, 1};
  for (double t = 0; t <= 3; t += 0.05) {
    const double v = pchip(x, y, t);
    CHECK((v >= -1e-12 && v <= 1 + 1e-12));
  }
  CHECK(pchip(x, y, 1.5) == doctest::Approx(0.5));
}
