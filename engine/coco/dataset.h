// COCO instances files (ground truth) and result files (detections), read with pycocotools'
// rules: polygons, uncompressed and compressed RLE; result areas as COCO.loadRes sets them.
// Errors name the file, the JSON pointer and what was expected.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mask.h"

namespace featjnd::coco {

struct Image {
  int64_t id = 0;
  uint64_t height = 0, width = 0;
  std::string file_name;
};

struct Category {
  int64_t id = 0;
  std::string name;
};

struct Annotation {
  int64_t id = 0, image_id = 0, category_id = 0;
  Box bbox{0, 0, 0, 0};
  double area = 0;
  bool iscrowd = false;
  double score = 1;               // detections
  std::optional<Rle> mask;        // resolved segmentation (polygons merged), when there is one
};

struct Dataset {
  std::vector<Image> images;
  std::vector<Category> categories;
  std::vector<Annotation> annotations;  // in file order
  std::map<int64_t, size_t> image_index;  // id -> position in images
  size_t degenerate = 0;  // annotations with a zero-area box or a polygon whose points repeat
};

// Reads an instances file. `need_masks`: every annotation must carry a segmentation, which is
// resolved to a mask; without it segmentations are not read (bbox evaluation needs none).
Dataset load_ground_truth(const std::string& path, bool need_masks);
// Reads a results file (a JSON list) against its ground truth, as COCO.loadRes does: when the
// first result has a non-empty bbox, every result's area is its box's w×h (also for segm) and a
// missing segmentation becomes the box's polygon; otherwise areas come from the masks and missing
// boxes from the masks' extents. Ids are 1.. in file order.
std::vector<Annotation> load_results(const std::string& path, const Dataset& gt, bool need_masks);
// The same from text in memory (`path` names it in messages): what the fuzzers drive.
Dataset parse_ground_truth(const std::string& text, const std::string& path, bool need_masks);
std::vector<Annotation> parse_results(const std::string& text, const std::string& path, const Dataset& gt,
                                      bool need_masks);

// Results file writer (the COCO results format), for the detection task's evaluator.
std::string results_json(const std::vector<Annotation>& dets, bool with_masks);

}  // namespace featjnd::coco
