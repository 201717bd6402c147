#include "mask.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

namespace featjnd::coco {

Rle encode(const uint8_t* mask, uint64_t h, uint64_t w) {
  Rle r{h, w, {}};
  const uint64_t n = h * w;
  uint8_t value = 0;
  uint32_t run = 0;
  for (uint64_t i = 0; i < n; ++i) {
    const uint8_t v = mask[i] ? 1 : 0;
    if (v != value) {
      r.counts.push_back(run);
      run = 0;
      value = v;
    }
    ++run;
  }
  r.counts.push_back(run);
  return r;
}

std::vector<uint8_t> decode(const Rle& r) {
  std::vector<uint8_t> m(r.h * r.w, 0);
  uint64_t p = 0;
  uint8_t v = 0;
  for (auto c : r.counts) {
    if (p + c > m.size()) throw std::invalid_argument("RLE counts exceed the mask size");
    std::fill_n(m.begin() + static_cast<std::ptrdiff_t>(p), c, v);
    p += c;
    v = !v;
  }
  return m;
}

uint64_t area(const Rle& r) {
  uint64_t a = 0;
  for (size_t i = 1; i < r.counts.size(); i += 2) a += r.counts[i];
  return a;
}

Box to_box(const Rle& r) {
  // pycocotools computes in 32-bit unsigned arithmetic; so do we.
  const uint32_t h = static_cast<uint32_t>(r.h), w = static_cast<uint32_t>(r.w);
  const size_t m = r.counts.size() / 2 * 2;
  if (m == 0) return {0, 0, 0, 0};
  uint32_t xs = w, ys = h, xe = 0, ye = 0, cc = 0, xp = 0;
  for (size_t j = 0; j < m; ++j) {
    cc += r.counts[j];
    const uint32_t t = cc - static_cast<uint32_t>(j % 2);
    const uint32_t y = t % h, x = (t - y) / h;
    if (j % 2 == 0) xp = x;
    else if (xp < x) {  // a run that wraps to the next column spans the full height
      ys = 0;
      ye = h - 1;
    }
    xs = std::min(xs, x);
    xe = std::max(xe, x);
    ys = std::min(ys, y);
    ye = std::max(ye, y);
  }
  return {double(xs), double(ys), double(xe - xs + 1), double(ye - ys + 1)};
}

namespace {

// The polygon's boundary, upsampled by `scale`, walked densely: one point per step of the longer
// axis, per edge, in maskApi.c's order (an edge is walked from its lower end, then reversed).
struct Walk {
  std::vector<int> u, v;
};

Walk walk_boundary(const std::vector<int>& x, const std::vector<int>& y) {
  const size_t k = x.size() - 1;
  size_t steps = 0;
  for (size_t j = 0; j < k; ++j)
    steps += static_cast<size_t>(std::max(std::abs(x[j + 1] - x[j]), std::abs(y[j + 1] - y[j]))) + 1;
  Walk w;
  w.u.reserve(steps);
  w.v.reserve(steps);
  for (size_t j = 0; j < k; ++j) {
    int xs = x[j], xe = x[j + 1], ys = y[j], ye = y[j + 1];
    const int dx = std::abs(xe - xs), dy = std::abs(ys - ye);
    if (dx == 0 && dy == 0) {
      // A repeated point (COCO 2017 has them). maskApi.c divides 0 by 0 here and converts the NaN
      // to int; that point always sits between two of the same column and is skipped later, so
      // any row gives its result, without the undefined conversion.
      w.u.push_back(xs);
      w.v.push_back(ys);
      continue;
    }
    const bool flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) {
      std::swap(xs, xe);
      std::swap(ys, ye);
    }
    const double s = dx >= dy ? double(ye - ys) / dx : double(xe - xs) / dy;
    if (dx >= dy)
      for (int d = 0; d <= dx; ++d) {
        const int t = flip ? dx - d : d;
        w.u.push_back(t + xs);
        w.v.push_back(static_cast<int>(ys + s * t + .5));
      }
    else
      for (int d = 0; d <= dy; ++d) {
        const int t = flip ? dy - d : d;
        w.v.push_back(t + ys);
        w.u.push_back(static_cast<int>(xs + s * t + .5));
      }
  }
  return w;
}

// Where the walk crosses a pixel column's centre: each crossing is a run boundary, as a
// column-major pixel index, sorted, with h*w closing the last run.
std::vector<uint32_t> column_crossings(const Walk& walk, double scale, uint64_t h, uint64_t w) {
  const auto& u = walk.u;
  const auto& v = walk.v;
  std::vector<uint32_t> a;
  a.reserve(u.size() + 1);
  for (size_t j = 1; j < u.size(); ++j) {
    if (u[j] == u[j - 1]) continue;
    double xd = double(u[j] < u[j - 1] ? u[j] : u[j] - 1);
    xd = (xd + .5) / scale - .5;
    if (std::floor(xd) != xd || xd < 0 || xd > double(w) - 1) continue;
    double yd = double(v[j] < v[j - 1] ? v[j] : v[j - 1]);
    yd = (yd + .5) / scale - .5;
    if (yd < 0) yd = 0;
    else if (yd > double(h)) yd = double(h);
    yd = std::ceil(yd);
    a.push_back(static_cast<uint32_t>(static_cast<int>(xd) * static_cast<int>(h) + static_cast<int>(yd)));
  }
  a.push_back(static_cast<uint32_t>(h * w));
  std::sort(a.begin(), a.end());
  return a;
}

// Sorted run boundaries to run lengths; zero-length runs fold into their neighbours.
Rle runs_between(std::vector<uint32_t> a, uint64_t h, uint64_t w) {
  uint32_t prev = 0;
  for (auto& e : a) {
    const uint32_t t = e;
    e -= prev;
    prev = t;
  }
  Rle r{h, w, {}};
  size_t j = 0;
  r.counts.push_back(a[j++]);
  while (j < a.size()) {
    if (a[j] > 0) r.counts.push_back(a[j++]);
    else {
      ++j;
      if (j < a.size()) r.counts.back() += a[j++];
    }
  }
  return r;
}

}  // namespace

Rle from_polygon(const std::vector<double>& xy, uint64_t h, uint64_t w) {
  // maskApi.c's rasteriser: upsample by 5, walk the boundary densely, keep the points where it
  // crosses a pixel column's centre; each gives a run boundary in column-major order.
  const size_t k = xy.size() / 2;
  if (k == 0) return Rle{h, w, {static_cast<uint32_t>(h * w)}};
  const double scale = 5;
  std::vector<int> x(k + 1), y(k + 1);
  for (size_t j = 0; j < k; ++j) x[j] = static_cast<int>(scale * xy[j * 2] + .5);
  for (size_t j = 0; j < k; ++j) y[j] = static_cast<int>(scale * xy[j * 2 + 1] + .5);
  x[k] = x[0];
  y[k] = y[0];
  return runs_between(column_crossings(walk_boundary(x, y), scale, h, w), h, w);
}

Rle from_box(const Box& b, uint64_t h, uint64_t w) {
  // Edges beyond the image are moved to just outside it: the same pixels are covered, and the
  // rasteriser, which walks the whole boundary, no longer spends time proportional to a box of
  // 10^7 pixels (found by the COCO fuzzer).
  auto clip = [](double v, uint64_t n) { return std::clamp(v, -1.0, double(n) + 1.0); };
  const double xs = clip(b[0], w), xe = clip(b[0] + b[2], w), ys = clip(b[1], h), ye = clip(b[1] + b[3], h);
  return from_polygon({xs, ys, xs, ye, xe, ye, xe, ys}, h, w);
}

Rle merge(const std::vector<Rle>& rles, bool intersect) {
  if (rles.empty()) return {};
  if (rles.size() == 1) return rles[0];
  const uint64_t h = rles[0].h, w = rles[0].w;
  std::vector<uint32_t> cnts = rles[0].counts;
  for (size_t i = 1; i < rles.size(); ++i) {
    const Rle& B = rles[i];
    if (B.h != h || B.w != w) return {};
    const std::vector<uint32_t> A = cnts;
    cnts.clear();
    if (A.empty() || B.counts.empty()) return {};
    uint32_t ca = A[0], cb = B.counts[0], cc = 0;
    bool v = false, va = false, vb = false;
    size_t a = 1, b = 1;
    uint64_t ct = 1;
    while (ct > 0) {
      const uint32_t c = std::min(ca, cb);
      cc += c;
      ct = 0;
      ca -= c;
      if (!ca && a < A.size()) {
        ca = A[a++];
        va = !va;
      }
      ct += ca;
      cb -= c;
      if (!cb && b < B.counts.size()) {
        cb = B.counts[b++];
        vb = !vb;
      }
      ct += cb;
      const bool vp = v;
      v = intersect ? (va && vb) : (va || vb);
      if (v != vp || ct == 0) {
        cnts.push_back(cc);
        cc = 0;
      }
    }
  }
  return Rle{h, w, cnts};
}

std::string to_string(const Rle& r) {
  std::string s;
  for (size_t i = 0; i < r.counts.size(); ++i) {
    int64_t x = r.counts[i];
    if (i > 2) x -= static_cast<int64_t>(r.counts[i - 2]);
    bool more = true;
    while (more) {
      char c = static_cast<char>(x & 0x1f);
      x >>= 5;
      more = (c & 0x10) ? x != -1 : x != 0;
      if (more) c |= 0x20;
      s.push_back(static_cast<char>(c + 48));
    }
  }
  return s;
}

Rle from_string(const std::string& s, uint64_t h, uint64_t w) {
  Rle r{h, w, {}};
  size_t p = 0;
  while (p < s.size()) {
    int64_t x = 0;
    int k = 0;
    bool more = true;
    while (more) {
      if (p >= s.size()) throw std::invalid_argument("compressed RLE ends inside a number");
      const int c = static_cast<unsigned char>(s[p]) - 48;
      if (c < 0 || c > 63) throw std::invalid_argument("compressed RLE has a character outside '0'..'o' at offset " + std::to_string(p));
      if (k > 12) throw std::invalid_argument("compressed RLE has an over-long number at offset " + std::to_string(p));
      x |= static_cast<int64_t>(c & 0x1f) << (5 * k);
      more = c & 0x20;
      ++p;
      ++k;
      if (!more && (c & 0x10)) x |= static_cast<int64_t>(-1) * (int64_t(1) << (5 * k));
    }
    if (r.counts.size() > 2) x += static_cast<int64_t>(r.counts[r.counts.size() - 2]);
    r.counts.push_back(static_cast<uint32_t>(x));
  }
  return r;
}

std::vector<double> box_iou(const std::vector<Box>& dt, const std::vector<Box>& gt, const std::vector<uint8_t>& crowd) {
  const size_t m = dt.size(), n = gt.size();
  std::vector<double> o(m * n, 0.0);
  for (size_t g = 0; g < n; ++g) {
    const Box& G = gt[g];
    const double ga = G[2] * G[3];
    const bool is_crowd = !crowd.empty() && crowd[g];
    for (size_t d = 0; d < m; ++d) {
      const Box& D = dt[d];
      const double da = D[2] * D[3];
      const double w = std::fmin(D[2] + D[0], G[2] + G[0]) - std::fmax(D[0], G[0]);
      if (w <= 0) continue;
      const double h = std::fmin(D[3] + D[1], G[3] + G[1]) - std::fmax(D[1], G[1]);
      if (h <= 0) continue;
      const double i = w * h;
      o[d * n + g] = i / (is_crowd ? da : da + ga - i);
    }
  }
  return o;
}

std::vector<double> mask_iou(const std::vector<Rle>& dt, const std::vector<Rle>& gt, const std::vector<uint8_t>& crowd) {
  const size_t m = dt.size(), n = gt.size();
  std::vector<Box> db(m), gb(n);
  for (size_t d = 0; d < m; ++d) db[d] = to_box(dt[d]);
  for (size_t g = 0; g < n; ++g) gb[g] = to_box(gt[g]);
  std::vector<double> o = box_iou(db, gb, crowd);  // boxes that do not overlap cannot overlap as masks
  for (size_t g = 0; g < n; ++g)
    for (size_t d = 0; d < m; ++d) {
      double& out = o[d * n + g];
      if (out <= 0) continue;
      const Rle &D = dt[d], &G = gt[g];
      if (D.h != G.h || D.w != G.w) {
        out = -1;
        continue;
      }
      if (D.counts.empty() || G.counts.empty()) {
        out = 0;
        continue;
      }
      uint32_t ca = D.counts[0], cb = G.counts[0], c;
      uint64_t i = 0, u = 0, ct = 1;
      size_t a = 1, b = 1;
      bool va = false, vb = false;
      while (ct > 0) {
        c = std::min(ca, cb);
        if (va || vb) {
          u += c;
          if (va && vb) i += c;
        }
        ct = 0;
        ca -= c;
        if (!ca && a < D.counts.size()) {
          ca = D.counts[a++];
          va = !va;
        }
        ct += ca;
        cb -= c;
        if (!cb && b < G.counts.size()) {
          cb = G.counts[b++];
          vb = !vb;
        }
        ct += cb;
      }
      if (i == 0) u = 1;
      else if (!crowd.empty() && crowd[g]) u = area(D);
      out = double(i) / double(u);
    }
  return o;
}

}  // namespace featjnd::coco
