#include "analysis/rate.h"
#include "analysis/format.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

namespace featjnd::analysis {
namespace {

// Fritsch–Carlson derivatives with scipy's PchipInterpolator end conditions.
std::vector<double> pchip_slopes(const std::vector<double>& x, const std::vector<double>& y) {
  const size_t n = x.size();
  std::vector<double> h(n - 1), delta(n - 1), d(n, 0.0);
  for (size_t k = 0; k + 1 < n; ++k) h[k] = x[k + 1] - x[k], delta[k] = (y[k + 1] - y[k]) / h[k];
  if (n == 2) return {delta[0], delta[0]};
  for (size_t k = 1; k + 1 < n; ++k) {
    if (delta[k - 1] * delta[k] <= 0) continue;
    const double w1 = 2 * h[k] + h[k - 1], w2 = h[k] + 2 * h[k - 1];
    d[k] = (w1 + w2) / (w1 / delta[k - 1] + w2 / delta[k]);
  }
  auto end = [](double h0, double h1, double d0, double d1) {
    double s = ((2 * h0 + h1) * d0 - h0 * d1) / (h0 + h1);
    if (std::signbit(s) != std::signbit(d0) || s == 0) return 0.0;
    if (std::signbit(d0) != std::signbit(d1) && std::abs(s) > 3 * std::abs(d0)) return 3 * d0;
    return s;
  };
  d[0] = end(h[0], h[1], delta[0], delta[1]);
  d[n - 1] = end(h[n - 2], h[n - 3], delta[n - 2], delta[n - 3]);
  return d;
}

double hermite(const std::vector<double>& x, const std::vector<double>& y, const std::vector<double>& d, double t) {
  size_t k = std::upper_bound(x.begin(), x.end(), t) - x.begin();
  k = std::clamp<size_t>(k, 1, x.size() - 1) - 1;
  const double h = x[k + 1] - x[k], s = (t - x[k]) / h;
  const double h00 = (1 + 2 * s) * (1 - s) * (1 - s), h10 = s * (1 - s) * (1 - s), h01 = s * s * (3 - 2 * s),
               h11 = s * s * (s - 1);
  return h00 * y[k] + h10 * h * d[k] + h01 * y[k + 1] + h11 * h * d[k + 1];
}

// ∫ of the interpolant over [a, b]: Simpson's rule on each piece of each cubic segment is exact.
double integral(const std::vector<double>& x, const std::vector<double>& y, double a, double b) {
  const auto d = pchip_slopes(x, y);
  std::vector<double> cuts = {a};
  for (double v : x)
    if (v > a && v < b) cuts.push_back(v);
  cuts.push_back(b);
  double sum = 0;
  for (size_t i = 0; i + 1 < cuts.size(); ++i) {
    const double l = cuts[i], r = cuts[i + 1], m = 0.5 * (l + r);
    sum += (r - l) / 6 * (hermite(x, y, d, l) + 4 * hermite(x, y, d, m) + hermite(x, y, d, r));
  }
  return sum;
}

// (metric, log rate) sorted by metric, one rate per metric value (the lowest: a method reaching an
// accuracy with fewer bits would use them).
std::pair<std::vector<double>, std::vector<double>> by_metric(const std::vector<std::pair<double, double>>& pts) {
  std::map<double, double> m;
  for (auto [rate, metric] : pts)
    if (rate > 0 && std::isfinite(metric)) {
      auto it = m.find(metric);
      const double lr = std::log(rate);
      if (it == m.end() || lr < it->second) m[metric] = lr;
    }
  std::vector<double> x, y;
  for (auto [k, v] : m) x.push_back(k), y.push_back(v);
  return {x, y};
}

}  // namespace

double pchip(const std::vector<double>& x, const std::vector<double>& y, double t) {
  return hermite(x, y, pchip_slopes(x, y), t);
}

BdRate bd_rate(const std::vector<std::pair<double, double>>& anchor, const std::vector<std::pair<double, double>>& test,
               double from) {
  auto [xa, ya] = by_metric(anchor);
  auto [xt, yt] = by_metric(test);
  BdRate r;
  if (xa.size() < kBdRateMinPoints || xt.size() < kBdRateMinPoints) {
    r.why = fmt::format("not comparable: {} and {} accuracy points; BD-rate needs at least {} per curve", xa.size(),
                        xt.size(), kBdRateMinPoints);
    return r;
  }
  r.low = std::max({xa.front(), xt.front(), from}), r.high = std::min(xa.back(), xt.back());
  if (!(r.high > r.low)) {
    r.why = std::isfinite(from) && r.high > std::max(xa.front(), xt.front())
                ? fmt::format("not comparable: the curves share no accuracy range above {:.6g}", from)
                : "not comparable: the curves share no accuracy range";
    r.low = r.high = NAN;
    return r;
  }
  const double avg = (integral(xt, yt, r.low, r.high) - integral(xa, ya, r.low, r.high)) / (r.high - r.low);
  r.percent = 100 * (std::exp(avg) - 1);
  return r;
}

std::vector<RateCurve> rate_curves(const Group& g) {
  std::vector<RateCurve> out;
  for (auto& c : g.curves) {
    RateCurve rc{c.label, {}};
    for (auto& p : c.points) {
      const double bpp = metric_stat(p, "codec.bpp").mean;
      if (std::isnan(bpp)) continue;
      rc.points.push_back({p.strength, bpp, p.metric.mean, metric_stat(p, "codec.bits_per_element").mean,
                           metric_stat(p, "codec.side_share").mean});
    }
    if (rc.points.empty()) continue;
    std::sort(rc.points.begin(), rc.points.end(), [](auto& a, auto& b) { return a.bpp < b.bpp; });
    out.push_back(std::move(rc));
  }
  return out;
}

nlohmann::json rate_json(const Group& g) {
  auto curves = rate_curves(g);
  nlohmann::json cj = nlohmann::json::array(), bd = nlohmann::json::array();
  const auto num = json_number;
  for (auto& c : curves) {
    nlohmann::json pts = nlohmann::json::array();
    for (auto& p : c.points)
      pts.push_back({{"strength", p.strength}, {"bpp", num(p.bpp)}, {"metric", num(p.metric)},
                     {"bits_per_element", num(p.bits_per_element)}, {"side_share", num(p.side_share)}});
    cj.push_back({{"label", c.label}, {"points", pts}});
  }
  auto pairs = [](const RateCurve& c) {
    std::vector<std::pair<double, double>> v;
    for (auto& p : c.points) v.push_back({p.bpp, p.metric});
    return v;
  };
  // Over the whole shared range, and over the high-accuracy range (≥ 90 % of the clean metric),
  // where a codec is operated.
  const double from = kHighAccuracyShare * g.clean.mean;
  for (auto& t : curves) {
    if (t.label.rfind("quant-featjnd", 0) != 0) continue;
    for (auto& a : curves) {
      if (&a == &t) continue;
      auto r = bd_rate(pairs(a), pairs(t));
      auto h = bd_rate(pairs(a), pairs(t), std::isfinite(from) ? from : -INFINITY);
      bd.push_back({{"test", t.label}, {"anchor", a.label}, {"bd_rate", num(r.percent)}, {"low", num(r.low)},
                    {"high", num(r.high)}, {"why", r.why},
                    {"high_accuracy", {{"from", num(from)}, {"bd_rate", num(h.percent)}, {"low", num(h.low)},
                                       {"high", num(h.high)}, {"why", h.why}}}});
    }
  }
  return {{"curves", cj}, {"bd_rates", bd}};
}

}  // namespace featjnd::analysis
