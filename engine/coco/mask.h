// Run-length encoded binary masks with pycocotools' semantics (its maskApi.c), so that areas,
// boxes and IoUs computed here equal the official COCO evaluation's to the last bit:
// column-major runs starting with a zero run, polygon rasterisation on a 5× upsampled boundary,
// the compressed-string format of COCO result files, and IoU against crowd regions.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace featjnd::coco {

struct Rle {
  uint64_t h = 0, w = 0;
  std::vector<uint32_t> counts;  // alternating runs of 0s and 1s, column-major, first run of 0s
};

using Box = std::array<double, 4>;  // x, y, width, height

// `mask` is h×w, column-major (pycocotools' Fortran order), non-zero = inside.
Rle encode(const uint8_t* mask, uint64_t h, uint64_t w);
std::vector<uint8_t> decode(const Rle& r);  // column-major
uint64_t area(const Rle& r);
Box to_box(const Rle& r);
// A polygon x0,y0,x1,y1,… (pixel coordinates; an odd trailing value is ignored, as pycocotools does).
Rle from_polygon(const std::vector<double>& xy, uint64_t h, uint64_t w);
Rle from_box(const Box& b, uint64_t h, uint64_t w);
// Union (or intersection) of masks of one size; masks of different sizes give an empty 0×0 mask.
Rle merge(const std::vector<Rle>& rles, bool intersect = false);
// COCO's compressed counts string (LEB128-like, 6 bits per character, differences from the run two back).
std::string to_string(const Rle& r);
// Throws std::invalid_argument on characters outside the format.
Rle from_string(const std::string& s, uint64_t h, uint64_t w);

// IoU matrices as pycocotools returns them: out[d * gt.size() + g]. For a crowd ground truth the
// union is the detection's area alone. Masks of different sizes give −1.
std::vector<double> box_iou(const std::vector<Box>& dt, const std::vector<Box>& gt, const std::vector<uint8_t>& crowd);
std::vector<double> mask_iou(const std::vector<Rle>& dt, const std::vector<Rle>& gt, const std::vector<uint8_t>& crowd);

}  // namespace featjnd::coco
