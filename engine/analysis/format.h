// How the analysis writes values: one implementation each, shared by the tables, Table 2, the
// rate-accuracy report and the commands that print them.
#pragma once

#include <cmath>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace featjnd::analysis {

// A parameter value as it appears in labels: strings bare, everything else as JSON.
inline std::string text_of(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// A number for JSON documents: NaN (a mean of nothing, a missing BD-rate) becomes null.
inline nlohmann::json json_number(double v) { return std::isnan(v) ? nlohmann::json() : nlohmann::json(v); }

// A share as a percentage with two decimals, right-aligned to `width`; "—" for NaN.
inline std::string pct(double v, int width = 0) {
  return std::isnan(v) ? fmt::format("{:>{}}", "—", width) : fmt::format("{:{}.2f}", 100.0 * v, width);
}

}  // namespace featjnd::analysis
