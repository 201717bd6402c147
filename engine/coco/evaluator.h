// COCO's detection metrics, computed as pycocotools' COCOeval (evaluate, accumulate, summarize)
// computes them: the same matching (stable score order, an IoU equal to a threshold matches,
// crowd regions matched repeatedly and ignored, maxDets per image and category), the same
// 101-point interpolated precision, and −1 where a statistic has no ground truth.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "dataset.h"

namespace featjnd::coco {

enum class IouType { bbox, segm };

struct EvalResult {
  // AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl
  std::array<double, 12> stats{};
  std::vector<int64_t> category_ids;
  std::vector<double> ap_per_category;  // AP at IoU .50:.95, all areas, 100 detections (−1: no GT)
};

EvalResult evaluate(const Dataset& gt, const std::vector<Annotation>& dt, IouType type);

extern const std::array<const char*, 12> kStatNames;

// pycocotools' printed summary lines.
std::string summary_text(const EvalResult& r, IouType type);

}  // namespace featjnd::coco
