// libFuzzer target: the COCO readers and the evaluator on arbitrary text. The first byte picks
// ground truth or results and bbox or segm; the rest is the file. Anything malformed must end in
// std::runtime_error (one message); a crash, a sanitizer report or a hang is a bug. What loads is
// evaluated.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "coco/evaluator.h"

namespace {

using namespace featjnd::coco;

// A small ground truth for the results: two images, two categories, boxes, a polygon, a crowd RLE.
const Dataset& ground_truth() {
  static const Dataset gt = parse_ground_truth(R"({"images": [{"id": 1, "height": 40, "width": 50}, {"id": 2, "height": 20, "width": 20}],
    "categories": [{"id": 1}, {"id": 2}],
    "annotations": [
      {"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 3, 10, 12], "area": 120, "iscrowd": 0,
       "segmentation": [[2, 3, 12, 3, 12, 15, 2, 15]]},
      {"id": 2, "image_id": 2, "category_id": 2, "bbox": [0, 0, 5, 5], "area": 25, "iscrowd": 1,
       "segmentation": {"size": [20, 20], "counts": [0, 5, 15, 5, 15, 5, 15, 5, 15, 5, 315]}}]})",
                                               "gt", true);
  return gt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool results = data[0] & 1, segm = data[0] & 2;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    if (results) {
      auto dt = parse_results(text, "dt", ground_truth(), segm);
      evaluate(ground_truth(), dt, segm ? IouType::segm : IouType::bbox);
    } else {
      auto gt = parse_ground_truth(text, "gt", segm);
      evaluate(gt, {}, segm ? IouType::segm : IouType::bbox);
    }
  } catch (const std::runtime_error&) {
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
