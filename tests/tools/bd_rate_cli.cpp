// A test helper: the engine's BD-rate (engine/analysis/rate.h) for curves read from a JSON file,
// {"cases": [{"anchor": [[rate, metric], ...], "test": [...], "from": m (optional)}, ...]}, printed as a JSON list of
// {"percent", "low", "high", "why"}. tests/tools/test_bd_rate_oracle.py compares it with SciPy.
#include <cstdio>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "analysis/rate.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: featjnd-test-bd-rate CURVES.json\n");
    return 2;
  }
  std::ifstream in(argv[1]);
  const auto doc = nlohmann::json::parse(in);
  nlohmann::json out = nlohmann::json::array();
  auto num = [](double v) { return std::isnan(v) ? nlohmann::json() : nlohmann::json(v); };
  for (auto& c : doc.at("cases")) {
    const auto r = featjnd::analysis::bd_rate(c.at("anchor").get<std::vector<std::pair<double, double>>>(),
                                              c.at("test").get<std::vector<std::pair<double, double>>>(),
                                              c.contains("from") ? c["from"].get<double>() : -INFINITY);
    out.push_back({{"percent", num(r.percent)}, {"low", num(r.low)}, {"high", num(r.high)}, {"why", r.why}});
  }
  std::cout << out.dump() << "\n";
  return 0;
}
