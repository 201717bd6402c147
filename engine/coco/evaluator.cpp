#include "evaluator.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <numeric>

namespace featjnd::coco {

const std::array<const char*, 12> kStatNames = {"AP", "AP50", "AP75", "APs", "APm", "APl",
                                                "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"};

namespace {

constexpr int kT = 10, kR = 101, kA = 4, kM = 3;
constexpr int kMaxDets[kM] = {1, 10, 100};
constexpr double kAreaRanges[kA][2] = {{0, 1e10}, {0, 32 * 32}, {32 * 32, 96 * 96}, {96 * 96, 1e10}};

// np.linspace(.5, .95, 10) and np.linspace(0, 1, 101), element for element: start + i·step, the
// last element exactly the end point.
std::array<double, kT> iou_thresholds() {
  std::array<double, kT> t{};
  const double step = (0.95 - 0.5) / (kT - 1);
  for (int i = 0; i < kT; ++i) t[i] = i * step + 0.5;
  t[kT - 1] = 0.95;
  return t;
}
std::array<double, kR> recall_thresholds() {
  std::array<double, kR> r{};
  const double step = 1.0 / (kR - 1);
  for (int i = 0; i < kR; ++i) r[i] = i * step;
  r[kR - 1] = 1.0;
  return r;
}

// One (image, category, area range) cell: COCOeval.evaluateImg's output.
struct Cell {
  bool present = false;
  std::vector<double> scores;      // D, sorted descending
  std::vector<int64_t> matches;    // T×D: matched ground-truth id, 0 if none
  std::vector<uint8_t> dt_ignore;  // T×D
  std::vector<uint8_t> gt_ignore;  // G
};

// Stable sort of indices by a key (numpy's mergesort is stable).
template <class Key>
std::vector<size_t> stable_order(size_t n, Key key) {
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return key(a) < key(b); });
  return idx;
}

}  // namespace

namespace {

// COCOeval._prepare: the annotations of each (category, image) pair, in file order; images and
// categories by increasing id.
struct Prepared {
  std::vector<int64_t> img_ids, cat_ids;
  std::vector<std::vector<const Annotation*>> gts, dts;  // [k * I + i]
  size_t I() const { return img_ids.size(); }
  size_t K() const { return cat_ids.size(); }
};

Prepared prepare(const Dataset& gt, const std::vector<Annotation>& dt) {
  Prepared p;
  for (const auto& im : gt.images) p.img_ids.push_back(im.id);
  for (const auto& c : gt.categories) p.cat_ids.push_back(c.id);
  std::sort(p.img_ids.begin(), p.img_ids.end());
  std::sort(p.cat_ids.begin(), p.cat_ids.end());
  std::map<int64_t, size_t> img_pos, cat_pos;
  for (size_t i = 0; i < p.I(); ++i) img_pos[p.img_ids[i]] = i;
  for (size_t k = 0; k < p.K(); ++k) cat_pos[p.cat_ids[k]] = k;
  p.gts.resize(p.K() * p.I());
  p.dts.resize(p.K() * p.I());
  auto place = [&](const Annotation& a, std::vector<std::vector<const Annotation*>>& into) {
    auto k = cat_pos.find(a.category_id);
    auto i = img_pos.find(a.image_id);
    if (k != cat_pos.end() && i != img_pos.end()) into[k->second * p.I() + i->second].push_back(&a);
  };
  for (const auto& a : gt.annotations) place(a, p.gts);
  for (const auto& a : dt) place(a, p.dts);
  return p;
}

// computeIoU: D × G (crowd ground truth by intersection over the detection's area).
std::vector<double> ious_of(const std::vector<const Annotation*>& d, const std::vector<const Annotation*>& g, IouType type) {
  if (d.empty() || g.empty()) return {};
  std::vector<uint8_t> crowd(g.size());
  for (size_t k = 0; k < g.size(); ++k) crowd[k] = g[k]->iscrowd;
  if (type == IouType::bbox) {
    std::vector<Box> db, gb;
    for (auto* a : d) db.push_back(a->bbox);
    for (auto* a : g) gb.push_back(a->bbox);
    return box_iou(db, gb, crowd);
  }
  std::vector<Rle> dm, gm;
  for (auto* a : d) dm.push_back(*a->mask);
  for (auto* a : g) gm.push_back(*a->mask);
  return mask_iou(dm, gm, crowd);
}

// evaluateImg for one area range: ground truth outside it or crowd is ignored and sorted last;
// each detection, by score, takes the best unmatched ground truth above each IoU threshold.
Cell evaluate_img(const std::vector<const Annotation*>& d, const std::vector<const Annotation*>& g,
                  const std::vector<double>& ious, double lo, double hi, const std::array<double, kT>& thresholds) {
  Cell c;
  c.present = true;
  const size_t D = d.size(), G = g.size();
  std::vector<uint8_t> ign(G);
  for (size_t k = 0; k < G; ++k) ign[k] = g[k]->iscrowd || g[k]->area < lo || g[k]->area > hi;
  const auto gorder = stable_order(G, [&](size_t k) { return ign[k]; });
  c.gt_ignore.resize(G);
  for (size_t k = 0; k < G; ++k) c.gt_ignore[k] = ign[gorder[k]];
  c.scores.resize(D);
  for (size_t j = 0; j < D; ++j) c.scores[j] = d[j]->score;
  c.matches.assign(kT * D, 0);
  c.dt_ignore.assign(kT * D, 0);
  std::vector<int64_t> gt_matched(kT * G, 0);
  for (int t = 0; t < kT && !ious.empty(); ++t)
    for (size_t j = 0; j < D; ++j) {
      double best = std::min(thresholds[t], 1 - 1e-10);
      long m = -1;
      for (size_t k = 0; k < G; ++k) {
        const size_t go = gorder[k];
        if (gt_matched[t * G + k] > 0 && !g[go]->iscrowd) continue;
        if (m > -1 && c.gt_ignore[m] == 0 && c.gt_ignore[k] == 1) break;
        const double v = ious[j * G + go];
        if (v < best) continue;
        best = v;
        m = static_cast<long>(k);
      }
      if (m == -1) continue;
      c.dt_ignore[t * D + j] = c.gt_ignore[m];
      c.matches[t * D + j] = g[gorder[m]]->id;
      gt_matched[t * G + m] = d[j]->id;
    }
  for (int t = 0; t < kT; ++t)
    for (size_t j = 0; j < D; ++j)
      if (c.matches[t * D + j] == 0 && (d[j]->area < lo || d[j]->area > hi)) c.dt_ignore[t * D + j] = 1;
  return c;
}

// Every (category, area range, image) cell; cells[(k · A + a) · I + i].
std::vector<Cell> evaluate_cells(const Prepared& p, IouType type) {
  const auto thresholds = iou_thresholds();
  const size_t I = p.I();
  std::vector<Cell> cells(p.K() * kA * I);
  for (size_t k = 0; k < p.K(); ++k)
    for (size_t i = 0; i < I; ++i) {
      const auto& g = p.gts[k * I + i];
      const auto& d_all = p.dts[k * I + i];
      if (g.empty() && d_all.empty()) continue;
      // Detections by score (stable), at most maxDets[-1].
      auto dorder = stable_order(d_all.size(), [&](size_t j) { return -d_all[j]->score; });
      if (dorder.size() > static_cast<size_t>(kMaxDets[kM - 1])) dorder.resize(kMaxDets[kM - 1]);
      std::vector<const Annotation*> d;
      for (auto j : dorder) d.push_back(d_all[j]);
      const auto ious = ious_of(d, g, type);
      for (int a = 0; a < kA; ++a)
        cells[(k * kA + a) * I + i] = evaluate_img(d, g, ious, kAreaRanges[a][0], kAreaRanges[a][1], thresholds);
    }
  return cells;
}

// accumulate: precision T×R×K×A×M and recall T×K×A×M, −1 where undefined.
struct Accumulated {
  size_t K = 0;
  std::vector<double> precision, recall;
  double& P(int t, int r, size_t k, int a, int m) {
    return precision[(((static_cast<size_t>(t) * kR + r) * K + k) * kA + a) * kM + m];
  }
  double& Rc(int t, size_t k, int a, int m) { return recall[((static_cast<size_t>(t) * K + k) * kA + a) * kM + m]; }
};

// One (category, area, maxDets) entry of the precision-recall curves, for threshold t: the cells'
// detections concatenated per image (cut at maxDet), reordered by score (stable).
void accumulate_one(const std::vector<const Cell*>& E, size_t md, size_t npig, const std::vector<size_t>& order,
                    int t, const std::array<double, kR>& recall_thrs, Accumulated& acc, size_t k, int a, int m) {
  const size_t N = order.size();
  std::vector<int64_t> dtm(N, 0);
  std::vector<uint8_t> dti(N, 0);
  size_t p = 0;
  for (const Cell* c : E) {
    const size_t D = c->scores.size(), n = std::min(md, D);
    for (size_t j = 0; j < n; ++j, ++p) dtm[p] = c->matches[t * D + j], dti[p] = c->dt_ignore[t * D + j];
  }
  std::vector<double> rc(N), pr(N);
  double tp = 0, fp = 0;
  for (size_t j = 0; j < N; ++j) {
    const size_t o = order[j];
    if (!dti[o]) (dtm[o] != 0 ? tp : fp) += 1;
    rc[j] = tp / static_cast<double>(npig);
    pr[j] = tp / (fp + tp + 2.220446049250313e-16);  // np.spacing(1)
  }
  acc.Rc(t, k, a, m) = N ? rc[N - 1] : 0;
  for (size_t j = N; j-- > 1;)
    if (pr[j] > pr[j - 1]) pr[j - 1] = pr[j];
  for (int r = 0; r < kR; ++r) {
    const size_t pi = static_cast<size_t>(std::lower_bound(rc.begin(), rc.end(), recall_thrs[r]) - rc.begin());
    if (pi >= N) {  // pycocotools' IndexError: this and every higher recall stay 0
      for (int rr = r; rr < kR; ++rr) acc.P(t, rr, k, a, m) = 0;
      break;
    }
    acc.P(t, r, k, a, m) = pr[pi];
  }
}

Accumulated accumulate(const std::vector<Cell>& cells, size_t K, size_t I) {
  const auto recall_thrs = recall_thresholds();
  Accumulated acc{K, std::vector<double>(kT * kR * K * kA * kM, -1.0), std::vector<double>(kT * K * kA * kM, -1.0)};
  for (size_t k = 0; k < K; ++k)
    for (int a = 0; a < kA; ++a)
      for (int m = 0; m < kM; ++m) {
        const size_t md = static_cast<size_t>(kMaxDets[m]);
        std::vector<double> scores;
        size_t npig = 0;
        std::vector<const Cell*> E;
        for (size_t i = 0; i < I; ++i) {
          const Cell& c = cells[(k * kA + a) * I + i];
          if (!c.present) continue;
          E.push_back(&c);
          for (size_t j = 0; j < std::min(md, c.scores.size()); ++j) scores.push_back(c.scores[j]);
          for (auto g : c.gt_ignore) npig += g == 0;
        }
        if (E.empty() || npig == 0) continue;
        const auto order = stable_order(scores.size(), [&](size_t j) { return -scores[j]; });
        for (int t = 0; t < kT; ++t) accumulate_one(E, md, npig, order, t, recall_thrs, acc, k, a, m);
      }
  return acc;
}

double mean_valid(const std::vector<double>& v) {
  double s = 0;
  size_t n = 0;
  for (double x : v)
    if (x > -1) s += x, ++n;
  return n ? s / static_cast<double>(n) : -1.0;
}

// summarize: one statistic, over the IoU thresholds (or one), the categories and recall levels.
double summarize(Accumulated& acc, bool ap, int t_only, int a, int m) {
  std::vector<double> v;
  for (int t = 0; t < kT; ++t) {
    if (t_only >= 0 && t != t_only) continue;
    for (size_t k = 0; k < acc.K; ++k) {
      if (!ap) {
        v.push_back(acc.Rc(t, k, a, m));
        continue;
      }
      for (int r = 0; r < kR; ++r) v.push_back(acc.P(t, r, k, a, m));
    }
  }
  return mean_valid(v);
}

}  // namespace

EvalResult evaluate(const Dataset& gt, const std::vector<Annotation>& dt, IouType type) {
  const Prepared p = prepare(gt, dt);
  Accumulated acc = accumulate(evaluate_cells(p, type), p.K(), p.I());
  EvalResult res;
  // iouThrs[0] is .5 and iouThrs[5] is .75 (np.where(iouThr == p.iouThrs)).
  res.stats = {summarize(acc, true, -1, 0, 2),  summarize(acc, true, 0, 0, 2),   summarize(acc, true, 5, 0, 2),
               summarize(acc, true, -1, 1, 2),  summarize(acc, true, -1, 2, 2),  summarize(acc, true, -1, 3, 2),
               summarize(acc, false, -1, 0, 0), summarize(acc, false, -1, 0, 1), summarize(acc, false, -1, 0, 2),
               summarize(acc, false, -1, 1, 2), summarize(acc, false, -1, 2, 2), summarize(acc, false, -1, 3, 2)};
  res.category_ids = p.cat_ids;
  for (size_t k = 0; k < p.K(); ++k) {  // AP over IoU thresholds and recall levels, all areas, 100 detections
    std::vector<double> v;
    for (int t = 0; t < kT; ++t)
      for (int r = 0; r < kR; ++r) v.push_back(acc.P(t, r, k, 0, 2));
    res.ap_per_category.push_back(mean_valid(v));
  }
  return res;
}

std::string summary_text(const EvalResult& r, IouType) {
  static const char* rows[12][4] = {
      {"Average Precision", "(AP)", "0.50:0.95", "   all"}, {"Average Precision", "(AP)", "0.50", "   all"}, {"Average Precision", "(AP)", "0.75", "   all"},
      {"Average Precision", "(AP)", "0.50:0.95", " small"}, {"Average Precision", "(AP)", "0.50:0.95", "medium"}, {"Average Precision", "(AP)", "0.50:0.95", " large"},
      {"Average Recall", "(AR)", "0.50:0.95", "   all"}, {"Average Recall", "(AR)", "0.50:0.95", "   all"}, {"Average Recall", "(AR)", "0.50:0.95", "   all"},
      {"Average Recall", "(AR)", "0.50:0.95", " small"}, {"Average Recall", "(AR)", "0.50:0.95", "medium"}, {"Average Recall", "(AR)", "0.50:0.95", " large"}};
  static const int dets[12] = {100, 100, 100, 100, 100, 100, 1, 10, 100, 100, 100, 100};
  std::string out;
  for (int i = 0; i < 12; ++i) {
    const std::string iou = std::string(rows[i][2]);
    out += fmt::format(" {:<18} {} @[ IoU={:<9} | area={} | maxDets={:>3} ] = {:.3f}\n", rows[i][0], rows[i][1], iou,
                       rows[i][3], dets[i], r.stats[static_cast<size_t>(i)]);
  }
  return out;
}

}  // namespace featjnd::coco
