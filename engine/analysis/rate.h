// Rate–accuracy: the codec-mode quantizers' bits per pixel against the task metric, and the
// Bjøntegaard delta rate between two curves — the share of bits one method saves over another at
// equal accuracy, over the accuracy range both cover — with the log-rate fitted as a monotone
// piecewise cubic of accuracy (Fritsch–Carlson PCHIP, as the MPEG and CompressAI-Vision scripts
// refit their curves) and integrated exactly.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/tables.h"

namespace featjnd::analysis {

struct RatePoint {
  double strength = 0;  // σ_q, or bits for min-max
  double bpp = 0, metric = 0, bits_per_element = 0, side_share = 0;
};

struct RateCurve {
  std::string label;  // the method ("quant-featjnd", ...)
  std::vector<RatePoint> points;  // means over a point's seeds, by increasing rate
};

// The curves of a group's methods that ran in codec mode (their runs carry codec.bpp).
std::vector<RateCurve> rate_curves(const Group& g);

// The PCHIP interpolant through (x, y), x strictly increasing, evaluated at t (inside [x0, xn]).
double pchip(const std::vector<double>& x, const std::vector<double>& y, double t);

// BD-rate in percent of `test` against `anchor`, each a list of (rate, metric) points: negative
// when `test` needs fewer bits. Taken over the accuracy range both curves cover, cut below at
// `from` (the high-accuracy range: the curves are fitted through all their points, the average is
// taken above `from`). NaN, with the reason in `why`, when a curve has fewer than 4 distinct
// accuracy points (the conventional minimum: a cubic fit through fewer says little) or the curves
// share no accuracy range above `from`.
inline constexpr size_t kBdRateMinPoints = 4;
struct BdRate {
  double percent = NAN, low = NAN, high = NAN;  // and the accuracy range it is taken over
  std::string why;                              // why there is none
};
BdRate bd_rate(const std::vector<std::pair<double, double>>& anchor, const std::vector<std::pair<double, double>>& test,
               double from = -INFINITY);

// The high-accuracy range of the rate tables: at least this share of the clean metric.
inline constexpr double kHighAccuracyShare = 0.9;

nlohmann::json rate_json(const Group& g);

}  // namespace featjnd::analysis
