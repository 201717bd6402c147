#include "dataset.h"

#include <fmt/format.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include "featjnd/json_limits.h"

namespace featjnd::coco {

namespace {

using nlohmann::json;

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
    if (v.is_number_float() && v.get<double>() == static_cast<double>(static_cast<int64_t>(v.get<double>())))
      return static_cast<int64_t>(v.get<double>());
    fail(where + "/" + key, "expected an integer, found " + v.dump());
  }
  double number(const json& v, const std::string& where) const {
    if (!v.is_number()) fail(where, "expected a number, found " + v.dump());
    return v.get<double>();
  }
  Box box(const json& v, const std::string& where) const {
    if (!v.is_array() || v.size() != 4) fail(where, "expected [x, y, width, height]");
    return {number(v[0], where + "/0"), number(v[1], where + "/1"), number(v[2], where + "/2"), number(v[3], where + "/3")};
  }
  json parse() const {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot open");
    // Whole file first: nlohmann parses a contiguous buffer several times faster than a stream.
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (auto deep = json_depth_error(text); !deep.empty()) throw std::runtime_error(path + ": " + deep);
    try {
      return json::parse(text);
    } catch (const json::parse_error& e) {
      throw std::runtime_error(fmt::format("{}: not valid JSON (byte {}): {}", path, e.byte, e.what()));
    }
  }

  // pycocotools' annToRLE / frPyObjects: a list of polygons (a 4-number "polygon" is read as a
  // box, as frPyObjects does), an uncompressed RLE {"size", "counts": [..]} or a compressed one.
  Rle segmentation(const json& s, const std::string& where, uint64_t h, uint64_t w) const {
    if (s.is_array()) {
      std::vector<Rle> parts;
      if (s.empty()) return merge({});
      const bool boxes = s[0].is_array() && s[0].size() == 4;
      for (size_t i = 0; i < s.size(); ++i) {
        const auto at = where + "/" + std::to_string(i);
        if (!s[i].is_array()) fail(at, "expected a polygon [x0, y0, x1, y1, ...]");
        std::vector<double> xy;
        for (size_t j = 0; j < s[i].size(); ++j) xy.push_back(number(s[i][j], at + "/" + std::to_string(j)));
        if (boxes) {
          if (xy.size() != 4) fail(at, "expected a box [x, y, width, height] like the first entry");
          parts.push_back(from_box({xy[0], xy[1], xy[2], xy[3]}, h, w));
        } else {
          if (xy.size() < 6) fail(at, "expected a polygon of at least 3 points");
          parts.push_back(from_polygon(xy, h, w));
        }
      }
      return merge(parts);
    }
    if (!s.is_object()) fail(where, "expected polygons or an RLE object");
    const json& size = field(s, where, "size");
    if (!size.is_array() || size.size() != 2 || !size[0].is_number_unsigned() || !size[1].is_number_unsigned())
      fail(where + "/size", "expected [height, width]");
    const uint64_t rh = size[0].get<uint64_t>(), rw = size[1].get<uint64_t>();
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

Dataset load_ground_truth(const std::string& path, bool need_masks) {
  Reader rd{path};
  const json doc = rd.parse();
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
    if (h <= 0 || w <= 0) rd.fail(at, "expected a positive height and width");
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
  const json& anns = rd.field(doc, "", "annotations");
  if (!anns.is_array()) rd.fail("/annotations", "expected a list");
  for (size_t i = 0; i < anns.size(); ++i) {
    const auto at = "/annotations/" + std::to_string(i);
    const json& a = anns[i];
    if (!a.is_object()) rd.fail(at, "expected an annotation object");
    Annotation ann;
    ann.id = rd.integer(a, at, "id");
    ann.image_id = rd.integer(a, at, "image_id");
    ann.category_id = rd.integer(a, at, "category_id");
    auto img = ds.image_index.find(ann.image_id);
    if (img == ds.image_index.end()) rd.fail(at + "/image_id", fmt::format("no image with id {}", ann.image_id));
    if (!cat_ids.count(ann.category_id)) rd.fail(at + "/category_id", fmt::format("no category with id {}", ann.category_id));
    ann.bbox = rd.box(rd.field(a, at, "bbox"), at + "/bbox");
    ann.area = rd.number(rd.field(a, at, "area"), at + "/area");
    if (a.contains("iscrowd")) {
      const json& c = a["iscrowd"];
      if (!(c.is_boolean() || c.is_number_integer())) rd.fail(at + "/iscrowd", "expected 0 or 1");
      ann.iscrowd = c.is_boolean() ? c.get<bool>() : c.get<int64_t>() != 0;
    }
    if (need_masks && a.contains("segmentation")) {  // bbox evaluation never looks at masks
      const Image& im = ds.images[img->second];
      ann.mask = rd.segmentation(a["segmentation"], at + "/segmentation", im.height, im.width);
    } else if (need_masks) {
      rd.fail(at, "missing \"segmentation\" (needed for segm evaluation)");
    }
    ds.annotations.push_back(std::move(ann));
  }
  return ds;
}

std::vector<Annotation> load_results(const std::string& path, const Dataset& gt, bool need_masks) {
  Reader rd{path};
  const json doc = rd.parse();
  if (!doc.is_array()) rd.fail("", "expected a list of detections (COCO results format)");
  std::vector<Annotation> out;
  if (doc.empty()) return out;
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
    if (box_results) {
      a.bbox = rd.box(rd.field(d, at, "bbox"), at + "/bbox");
      a.area = a.bbox[2] * a.bbox[3];
      if (need_masks && d.contains("segmentation"))
        a.mask = rd.segmentation(d["segmentation"], at + "/segmentation", im.height, im.width);
      else if (need_masks) a.mask = from_box(a.bbox, im.height, im.width);  // loadRes: the box as a polygon
    } else {
      if (!d.contains("segmentation")) rd.fail(at, "missing \"bbox\" and \"segmentation\"");
      a.mask = rd.segmentation(d["segmentation"], at + "/segmentation", im.height, im.width);
      a.area = static_cast<double>(area(*a.mask));
      a.bbox = d.contains("bbox") ? rd.box(d["bbox"], at + "/bbox") : to_box(*a.mask);
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
