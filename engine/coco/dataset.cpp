#include "dataset.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_set>
#include <stdexcept>
#include "featjnd/json_limits.h"

namespace featjnd::coco {

namespace {

using nlohmann::json;

bool repeats_a_point(const std::vector<double>& xy) {
  for (size_t k = 2; k + 1 < xy.size(); k += 2)
    if (xy[k] == xy[k - 2] && xy[k + 1] == xy[k - 1]) return true;
  return false;
}

struct Reader {
  std::string path;
  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    throw std::runtime_error(fmt::format("{}: {}: {}", path, where.empty() ? "/" : where, what));
  }
  const json& field(const json& obj, const std::string& where, const char* key) const {
    auto it = obj.find(key);
    if (it == obj.end()) fail(where, fmt::format("missing \"{}\"", key));
    return *it;
  }
  int64_t integer(const json& obj, const std::string& where, const char* key) const {
    const json& v = field(obj, where, key);
    if (v.is_number_integer()) return v.get<int64_t>();
    // 3.0 is read as 3 (some writers emit ids as floats); the range is checked before the
    // conversion, which is undefined past int64 (found by the fuzzer).
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (std::isfinite(d) && std::abs(d) < 9.0e18 && d == std::trunc(d)) return static_cast<int64_t>(d);
    }
    fail(where + "/" + key, "expected an integer, found " + v.dump());
  }
  double number(const json& v, const std::string& where) const {
    if (!v.is_number()) fail(where, "expected a number, found " + v.dump());
    return v.get<double>();
  }
  // Polygon and box coordinates become integers (×5) in the rasteriser: bounded so that they fit.
  double coordinate(const json& v, const std::string& where) const {
    const double x = number(v, where);
    if (!std::isfinite(x) || std::abs(x) > 1e8) fail(where, fmt::format("expected a coordinate within ±1e8, found {}", v.dump()));
    return x;
  }
  // The i-th coordinate of `list` at `where`: the JSON pointer of an element is written only when
  // that element is refused (a string per coordinate was most of the reader's time).
  double coordinate_at(const json& list, size_t i, const std::string& where) const {
    const json& v = list[i];
    if (v.is_number()) {
      const double x = v.get<double>();
      if (std::isfinite(x) && std::abs(x) <= 1e8) return x;
    }
    return coordinate(v, where + "/" + std::to_string(i));  // refuses it, naming the element
  }
  Box box(const json& v, const std::string& where) const {
    if (!v.is_array() || v.size() != 4) fail(where, "expected [x, y, width, height]");
    return {coordinate_at(v, 0, where), coordinate_at(v, 1, where), coordinate_at(v, 2, where),
            coordinate_at(v, 3, where)};
  }
  json parse(const std::string& text) const {
    if (auto deep = json_depth_error(text); !deep.empty()) throw std::runtime_error(path + ": " + deep);
    try {
      return json::parse(text);
    } catch (const json::parse_error& e) {
      throw std::runtime_error(fmt::format("{}: not valid JSON (byte {}): {}", path, e.byte, e.what()));
    } catch (const json::exception& e) {  // e.g. a number too large for a double (found by the fuzzer)
      throw std::runtime_error(fmt::format("{}: not valid JSON: {}", path, e.what()));
    }
  }

  // The rasteriser's work and memory grow with the outline's length (it walks the boundary at 5×
  // resolution, 8 bytes a step): points within the grown image still allow a zig-zag of many
  // image-crossing edges, a few bytes of JSON each. An object's outline is a few times its
  // image's perimeter at most; refuse one past 1000 times.
  void check_outline_length(const std::vector<double>& xy, const std::string& at, uint64_t h, uint64_t w) const {
    double length = 0;
    const size_t k = xy.size() / 2;
    for (size_t j = 0; j < k; ++j) {
      const size_t n = (j + 1) % k;
      length += std::max(std::abs(xy[2 * n] - xy[2 * j]), std::abs(xy[2 * n + 1] - xy[2 * j + 1]));
    }
    const double limit = 1000.0 * 2.0 * double(h + w);
    if (length > limit)
      fail(at, fmt::format("the polygon's outline is {:.0f} pixels long, more than 1000 times the {}x{} image's "
                           "perimeter; expected the outline of an object",
                           length, h, w));
  }

  // pycocotools' annToRLE / frPyObjects: a list of polygons (a 4-number "polygon" is read as a
  // box, as frPyObjects does), an uncompressed RLE {"size", "counts": [..]} or a compressed one.
  // `rasterise` false: every rule is checked (bbox evaluation must not accept a file segm would
  // refuse) but polygons are not drawn. `degenerate` counts polygons whose points repeat.
  Rle segmentation(const json& s, const std::string& where, uint64_t h, uint64_t w, bool rasterise = true,
                   size_t* degenerate = nullptr) const {
    if (s.is_array()) {
      std::vector<Rle> parts;
      if (s.empty()) return merge({});
      const bool boxes = s[0].is_array() && s[0].size() == 4;
      for (size_t i = 0; i < s.size(); ++i) {
        const auto at = where + "/" + std::to_string(i);
        if (!s[i].is_array()) fail(at, "expected a polygon [x0, y0, x1, y1, ...]");
        std::vector<double> xy(s[i].size());
        for (size_t j = 0; j < xy.size(); ++j) xy[j] = coordinate_at(s[i], j, at);
        if (boxes) {
          if (xy.size() != 4) fail(at, "expected a box [x, y, width, height] like the first entry");
          if (rasterise) parts.push_back(from_box({xy[0], xy[1], xy[2], xy[3]}, h, w));
          continue;
        }
        if (xy.size() % 2 != 0) fail(at, fmt::format("expected a polygon of an even number of coordinates; this one has {}", xy.size()));
        if (xy.size() < 6) fail(at, "expected a polygon of at least 3 points");
        // The rasteriser walks the boundary: a polygon far outside its image would cost time in
        // proportion (found by the fuzzer). Within the image grown by its own size on each side.
        for (size_t j = 0; j < xy.size(); ++j) {
          const double n = double(j % 2 ? h : w);
          if (xy[j] < -n || xy[j] > 2 * n)
            fail(at + "/" + std::to_string(j), fmt::format("{} lies far outside the {}x{} image (expected within [-{}, {}])",
                                                           xy[j], h, w, n, 2 * n));
        }
        check_outline_length(xy, at, h, w);
        if (degenerate && repeats_a_point(xy)) ++*degenerate;
        if (rasterise) parts.push_back(from_polygon(xy, h, w));
      }
      return rasterise ? merge(parts) : Rle{};
    }
    if (!s.is_object()) fail(where, "expected polygons or an RLE object");
    const json& size = field(s, where, "size");
    if (!size.is_array() || size.size() != 2 || !size[0].is_number_unsigned() || !size[1].is_number_unsigned())
      fail(where + "/size", "expected [height, width]");
    const uint64_t rh = size[0].get<uint64_t>(), rw = size[1].get<uint64_t>();
    if (rh != h || rw != w)
      fail(where + "/size", fmt::format("the mask is {}x{}, its image {}x{}; an RLE must have its image's size", rh, rw, h, w));
    const json& counts = field(s, where, "counts");
    Rle r;
    if (counts.is_string()) {
      try {
        r = from_string(counts.get<std::string>(), rh, rw);
      } catch (const std::invalid_argument& e) {
        fail(where + "/counts", e.what());
      }
    } else if (counts.is_array()) {
      r = Rle{rh, rw, {}};
      for (size_t i = 0; i < counts.size(); ++i) {
        if (!counts[i].is_number_unsigned() || counts[i].get<uint64_t>() > 0xffffffffu)
          fail(where + "/counts/" + std::to_string(i), "expected a run length (unsigned 32-bit)");
        r.counts.push_back(counts[i].get<uint32_t>());
      }
    } else {
      fail(where + "/counts", "expected a string (compressed RLE) or a list of run lengths");
    }
    uint64_t total = 0;
    for (auto c : r.counts) total += c;
    if (total != rh * rw) fail(where + "/counts", fmt::format("runs cover {} pixels, the size {}x{} has {}", total, rh, rw, rh * rw));
    return r;
  }
};

}  // namespace

namespace {

// A wrong ground truth silently changes AP, so every rule is checked (in bbox mode too); what is
// structurally valid yet degenerate (zero-area boxes, polygons whose points repeat: COCO 2017's own
// files hold them) is read as pycocotools reads it and counted in one warning line.
void load_annotations(const Reader& rd, const json& doc, const std::set<int64_t>& cat_ids, bool need_masks,
                      Dataset& ds) {
  const json& anns = rd.field(doc, "", "annotations");
  if (!anns.is_array()) rd.fail("/annotations", "expected a list");
  std::unordered_set<int64_t> ids;
  ids.reserve(anns.size());
  ds.annotations.reserve(anns.size());
  size_t degenerate = 0;
  for (size_t i = 0; i < anns.size(); ++i) {
    const auto at = "/annotations/" + std::to_string(i);
    const json& a = anns[i];
    if (!a.is_object()) rd.fail(at, "expected an annotation object");
    Annotation ann;
    ann.id = rd.integer(a, at, "id");
    // pycocotools marks "unmatched" with id 0: an id ≤ 0 would be matched to nothing.
    if (ann.id <= 0) rd.fail(at + "/id", fmt::format("annotation ids are positive; found {}", ann.id));
    if (!ids.insert(ann.id).second) rd.fail(at + "/id", fmt::format("annotation id {} appears twice", ann.id));
    ann.image_id = rd.integer(a, at, "image_id");
    ann.category_id = rd.integer(a, at, "category_id");
    auto img = ds.image_index.find(ann.image_id);
    if (img == ds.image_index.end()) rd.fail(at + "/image_id", fmt::format("no image with id {}", ann.image_id));
    if (!cat_ids.count(ann.category_id)) rd.fail(at + "/category_id", fmt::format("no category with id {}", ann.category_id));
    ann.bbox = rd.box(rd.field(a, at, "bbox"), at + "/bbox");
    if (ann.bbox[2] < 0 || ann.bbox[3] < 0)
      rd.fail(at + "/bbox", fmt::format("a box's width and height are ≥ 0; found {} x {}", ann.bbox[2], ann.bbox[3]));
    ann.area = rd.number(rd.field(a, at, "area"), at + "/area");
    if (ann.area < 0) rd.fail(at + "/area", fmt::format("an area is ≥ 0; found {}", ann.area));
    size_t repeated = 0;
    if (a.contains("iscrowd")) {
      const json& c = a["iscrowd"];
      const bool zero_or_one = c.is_boolean() || (c.is_number_integer() && (c.get<int64_t>() == 0 || c.get<int64_t>() == 1));
      if (!zero_or_one) rd.fail(at + "/iscrowd", "expected 0 or 1, found " + c.dump());
      ann.iscrowd = c.is_boolean() ? c.get<bool>() : c.get<int64_t>() == 1;
    }
    const Image& im = ds.images[img->second];
    if (a.contains("segmentation")) {
      Rle mask = rd.segmentation(a["segmentation"], at + "/segmentation", im.height, im.width, need_masks, &repeated);
      if (need_masks) ann.mask = std::move(mask);
    } else if (need_masks) {
      rd.fail(at, "missing \"segmentation\" (needed for segm evaluation)");
    }
    if (ann.bbox[2] == 0 || ann.bbox[3] == 0 || ann.area == 0 || repeated) ++degenerate;
    ds.annotations.push_back(std::move(ann));
  }
  ds.degenerate = degenerate;
  if (degenerate)
    std::fprintf(stderr, "%s: warning: %zu annotations are degenerate (zero-area boxes or polygons with repeated points); "
                 "read as pycocotools reads them\n",
                 rd.path.c_str(), degenerate);
}

}  // namespace

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  // Whole file first: nlohmann parses a contiguous buffer several times faster than a stream.
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

Dataset load_ground_truth(const std::string& path, bool need_masks) {
  return parse_ground_truth(read_file(path), path, need_masks);
}

std::vector<Annotation> load_results(const std::string& path, const Dataset& gt, bool need_masks) {
  return parse_results(read_file(path), path, gt, need_masks);
}

Dataset parse_ground_truth(const std::string& text, const std::string& path, bool need_masks) {
  Reader rd{path};
  const json doc = rd.parse(text);
  if (!doc.is_object()) rd.fail("", "expected a COCO instances object {images, annotations, categories}");
  Dataset ds;
  const json& images = rd.field(doc, "", "images");
  if (!images.is_array()) rd.fail("/images", "expected a list");
  for (size_t i = 0; i < images.size(); ++i) {
    const auto at = "/images/" + std::to_string(i);
    const json& im = images[i];
    if (!im.is_object()) rd.fail(at, "expected an image object");
    Image img;
    img.id = rd.integer(im, at, "id");
    const int64_t h = rd.integer(im, at, "height"), w = rd.integer(im, at, "width");
    // RLE counts are 32-bit (as in pycocotools): no image can have more pixels than they count.
    if (h <= 0 || w <= 0 || h > 1'000'000 || w > 1'000'000 || h * w > int64_t(UINT32_MAX))
      rd.fail(at, fmt::format("expected a height and width in [1, 1000000] with fewer than 2^32 pixels, found {}x{}", h, w));
    img.height = static_cast<uint64_t>(h);
    img.width = static_cast<uint64_t>(w);
    if (im.contains("file_name") && im["file_name"].is_string()) img.file_name = im["file_name"].get<std::string>();
    if (!ds.image_index.emplace(img.id, ds.images.size()).second) rd.fail(at + "/id", fmt::format("image id {} appears twice", img.id));
    ds.images.push_back(img);
  }
  const json& cats = rd.field(doc, "", "categories");
  if (!cats.is_array()) rd.fail("/categories", "expected a list");
  std::set<int64_t> cat_ids;
  for (size_t i = 0; i < cats.size(); ++i) {
    const auto at = "/categories/" + std::to_string(i);
    if (!cats[i].is_object()) rd.fail(at, "expected a category object");
    Category c{rd.integer(cats[i], at, "id"), cats[i].value("name", std::string())};
    if (!cat_ids.insert(c.id).second) rd.fail(at + "/id", fmt::format("category id {} appears twice", c.id));
    ds.categories.push_back(c);
  }
  load_annotations(rd, doc, cat_ids, need_masks, ds);
  return ds;
}

namespace {
// A detection's box: [x, y, width, height] with width and height ≥ 0.
Box result_box(const Reader& rd, const json& v, const std::string& where) {
  const Box b = rd.box(v, where);
  if (b[2] < 0 || b[3] < 0)
    rd.fail(where, fmt::format("expected a width and height ≥ 0; found {} x {}", b[2], b[3]));
  return b;
}
}  // namespace

std::vector<Annotation> parse_results(const std::string& text, const std::string& path, const Dataset& gt,
                                      bool need_masks) {
  Reader rd{path};
  const json doc = rd.parse(text);
  if (!doc.is_array()) rd.fail("", "expected a list of detections (COCO results format)");
  std::vector<Annotation> out;
  if (doc.empty()) return out;
  out.reserve(doc.size());
  const bool box_results = doc[0].is_object() && doc[0].contains("bbox") && doc[0]["bbox"].is_array() && !doc[0]["bbox"].empty();
  for (size_t i = 0; i < doc.size(); ++i) {
    const auto at = "/" + std::to_string(i);
    const json& d = doc[i];
    if (!d.is_object()) rd.fail(at, "expected a detection object");
    Annotation a;
    a.id = static_cast<int64_t>(i) + 1;
    a.image_id = rd.integer(d, at, "image_id");
    a.category_id = rd.integer(d, at, "category_id");
    a.score = rd.number(rd.field(d, at, "score"), at + "/score");
    auto img = gt.image_index.find(a.image_id);
    if (img == gt.image_index.end())
      rd.fail(at + "/image_id", fmt::format("image {} is not in the ground truth", a.image_id));
    const Image& im = gt.images[img->second];
    // The whole file is checked whatever the IoU type: a box evaluation does not accept what a
    // segm one would refuse (a negative size, an RLE of another size, counts that do not tile).
    if (box_results) {
      a.bbox = result_box(rd, rd.field(d, at, "bbox"), at + "/bbox");
      a.area = a.bbox[2] * a.bbox[3];
      if (d.contains("segmentation")) {
        if (need_masks) a.mask = rd.segmentation(d["segmentation"], at + "/segmentation", im.height, im.width);
        else rd.segmentation(d["segmentation"], at + "/segmentation", im.height, im.width, /*rasterise=*/false);
      } else if (need_masks) {
        a.mask = from_box(a.bbox, im.height, im.width);  // loadRes: the box as a polygon
      }
    } else {
      if (!d.contains("segmentation")) rd.fail(at, "missing \"bbox\" and \"segmentation\"");
      a.mask = rd.segmentation(d["segmentation"], at + "/segmentation", im.height, im.width);
      a.area = static_cast<double>(area(*a.mask));
      a.bbox = d.contains("bbox") ? result_box(rd, d["bbox"], at + "/bbox") : to_box(*a.mask);
    }
    out.push_back(std::move(a));
  }
  return out;
}

std::string results_json(const std::vector<Annotation>& dets, bool with_masks) {
  json out = json::array();
  for (const auto& d : dets) {
    json j{{"image_id", d.image_id}, {"category_id", d.category_id}, {"score", d.score},
           {"bbox", {d.bbox[0], d.bbox[1], d.bbox[2], d.bbox[3]}}};
    if (with_masks && d.mask) j["segmentation"] = {{"size", {d.mask->h, d.mask->w}}, {"counts", to_string(*d.mask)}};
    out.push_back(std::move(j));
  }
  return out.dump();
}

}  // namespace featjnd::coco
