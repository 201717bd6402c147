// The COCO mask API and evaluator against hand-computed cases: each expected number below follows
// from pycocotools' rules (maskApi.c, COCOeval) worked through by hand, not from running our code.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "coco/evaluator.h"

using namespace featjnd::coco;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string write_temp(const std::string& name, const json& j) {
  auto dir = fs::temp_directory_path() / ("featjnd-coco-test-" + std::to_string(getpid()));
  fs::create_directories(dir);
  auto p = (dir / name).string();
  std::ofstream(p) << j.dump();
  return p;
}

json image(int64_t id, int h = 200, int w = 200) { return {{"id", id}, {"height", h}, {"width", w}}; }

json gt_ann(int64_t id, int64_t img, std::vector<double> box, bool crowd = false, int64_t cat = 1) {
  return {{"id", id}, {"image_id", img}, {"category_id", cat}, {"bbox", box}, {"area", box[2] * box[3]}, {"iscrowd", crowd ? 1 : 0}};
}

json det(int64_t img, std::vector<double> box, double score, int64_t cat = 1) {
  return {{"image_id", img}, {"category_id", cat}, {"bbox", box}, {"score", score}};
}

EvalResult eval_boxes(const json& images, const json& anns, const json& dets) {
  json gt{{"images", images}, {"annotations", anns}, {"categories", json::array({{{"id", 1}, {"name", "a"}}})}};
  auto g = load_ground_truth(write_temp("gt.json", gt), false);
  auto d = load_results(write_temp("dt.json", dets), g, false);
  return evaluate(g, d, IouType::bbox);
}

}  // namespace

TEST_CASE("RLE: runs are column-major, start with zeros, and decode back") {
  // 4×5 mask, ones at rows 1-2, columns 1-3 (column-major storage).
  std::vector<uint8_t> m(20, 0);
  for (int x = 1; x <= 3; ++x)
    for (int y = 1; y <= 2; ++y) m[static_cast<size_t>(x * 4 + y)] = 1;
  auto r = encode(m.data(), 4, 5);
  CHECK(r.counts == std::vector<uint32_t>{5, 2, 2, 2, 2, 2, 5});
  CHECK(area(r) == 6);
  CHECK(to_box(r) == Box{1, 1, 3, 2});
  CHECK(decode(r) == m);
  std::vector<uint8_t> first(6, 0);
  first[0] = 1;
  CHECK(encode(first.data(), 2, 3).counts == std::vector<uint32_t>{0, 1, 5});
}

TEST_CASE("RLE: COCO's compressed strings, by hand") {
  CHECK(to_string(Rle{3, 3, {0, 5, 3}}) == "053");
  CHECK(to_string(Rle{4, 4, {10, 2, 3, 1}}) == ":23O");  // the 4th is stored as 1 − 2 = −1
  CHECK(to_string(Rle{10, 10, {100}}) == "T3");         // 100 = 4 + 3·32: two characters
  CHECK(from_string(":23O", 4, 4).counts == std::vector<uint32_t>{10, 2, 3, 1});
  CHECK(from_string("T3", 10, 10).counts == std::vector<uint32_t>{100});
  Rle big{1000, 1000, {123456, 7, 999, 31, 876543 - 123456 - 7 - 999 - 31, 0}};
  big.counts.back() = 1000000 - 876543;
  CHECK(from_string(to_string(big), 1000, 1000).counts == big.counts);
  CHECK_THROWS_WITH_AS(from_string("0~", 2, 2), doctest::Contains("outside"), std::invalid_argument);
  CHECK_THROWS_AS(from_string("T", 10, 10), std::invalid_argument);  // ends inside a number
}

TEST_CASE("polygons rasterise as pycocotools' rleFrPoly does") {
  // A 10×10 square at the origin: boundary crossings at the column centres 0..9, rows 0..10.
  auto sq = from_polygon({0, 0, 10, 0, 10, 10, 0, 10}, 20, 20);
  CHECK(area(sq) == 100);
  CHECK(to_box(sq) == Box{0, 0, 10, 10});
  // Triangle (0,0) (4,0) (0,4) in 6×6, worked through the 5× upsampled boundary by hand:
  // crossings (x,y) = (0..3, 0) on the top edge and (3,0) (2,1) (1,2) (0,3) on the diagonal.
  auto tri = from_polygon({0, 0, 4, 0, 0, 4}, 6, 6);
  CHECK(tri.counts == std::vector<uint32_t>{0, 3, 3, 2, 4, 1, 23});
  CHECK(area(tri) == 6);
  CHECK(to_box(tri) == Box{0, 0, 3, 3});
  // A box goes through the same code (rleFrBbox).
  CHECK(from_box({0, 0, 10, 10}, 20, 20).counts == sq.counts);
}

TEST_CASE("merge and mask IoU, with crowd regions") {
  std::vector<uint8_t> a(16, 0), b(16, 0);
  for (int i = 0; i < 8; ++i) a[static_cast<size_t>(i)] = 1;   // columns 0-1
  for (int i = 4; i < 12; ++i) b[static_cast<size_t>(i)] = 1;  // columns 1-2
  auto ra = encode(a.data(), 4, 4), rb = encode(b.data(), 4, 4);
  CHECK(area(merge({ra, rb})) == 12);
  CHECK(area(merge({ra, rb}, true)) == 4);
  auto iou = mask_iou({ra}, {rb}, {0});
  CHECK(iou[0] == doctest::Approx(4.0 / 12.0));
  iou = mask_iou({ra}, {rb}, {1});  // crowd: intersection over the detection's area
  CHECK(iou[0] == doctest::Approx(4.0 / 8.0));
  CHECK(mask_iou({ra}, {Rle{8, 2, {0, 16}}}, {0})[0] == -1);  // sizes differ
  auto biou = box_iou({{0, 0, 10, 10}, {5, 0, 10, 10}}, {{0, 0, 10, 5}}, {0});
  CHECK(biou == std::vector<double>{0.5, 25.0 / 125.0});
}

TEST_CASE("evaluator: a perfect detection; −1 where an area range has no ground truth") {
  auto r = eval_boxes(json::array({image(1)}), json::array({gt_ann(1, 1, {0, 0, 10, 10})}), json::array({det(1, {0, 0, 10, 10}, 0.9)}));
  // Precision is tp / (tp + fp + eps) as in pycocotools, so a perfect AP is 1 − 2.2e-16.
  const std::array<double, 12> expected{1, 1, 1, 1, -1, -1, 1, 1, 1, 1, -1, -1};
  for (size_t i = 0; i < 12; ++i) {
    CAPTURE(i);
    CHECK(r.stats[i] == doctest::Approx(expected[i]).epsilon(1e-12));
  }
  CHECK(r.stats[0] < 1.0);
}

TEST_CASE("evaluator: an IoU equal to the threshold matches") {
  // IoU exactly 0.5: a true positive at .50 only, so AP = AR = 1/10.
  auto r = eval_boxes(json::array({image(1)}), json::array({gt_ann(1, 1, {0, 0, 10, 10})}), json::array({det(1, {0, 0, 10, 5}, 0.9)}));
  CHECK(r.stats[1] == doctest::Approx(1.0).epsilon(1e-12));
  CHECK(r.stats[2] == 0.0);
  CHECK(r.stats[0] == doctest::Approx(0.1).epsilon(1e-12));
  CHECK(r.stats[8] == doctest::Approx(0.1).epsilon(1e-12));
}

TEST_CASE("evaluator: equal scores keep file order (a stable sort)") {
  auto miss = det(1, {100, 100, 10, 10}, 0.5), hit = det(1, {0, 0, 10, 10}, 0.5);
  auto first_miss = eval_boxes(json::array({image(1)}), json::array({gt_ann(1, 1, {0, 0, 10, 10})}), {miss, hit});
  auto first_hit = eval_boxes(json::array({image(1)}), json::array({gt_ann(1, 1, {0, 0, 10, 10})}), json::array({hit, miss}));
  CHECK(first_miss.stats[0] == doctest::Approx(0.5).epsilon(1e-12));  // precision 1/2 at recall 1
  CHECK(first_hit.stats[0] == doctest::Approx(1.0).epsilon(1e-12));
}

TEST_CASE("evaluator: crowd regions absorb any number of detections, which are then ignored") {
  json anns = {gt_ann(1, 1, {0, 0, 10, 10}), gt_ann(2, 1, {20, 0, 20, 20}, true)};
  json dets = {det(1, {0, 0, 10, 10}, 0.9), det(1, {22, 2, 5, 5}, 0.8), det(1, {30, 5, 5, 5}, 0.7)};
  CHECK(eval_boxes(json::array({image(1)}), anns, dets).stats[0] == doctest::Approx(1.0).epsilon(1e-12));
  // The same region as an ordinary object: two false positives and a missed object. Recall
  // stops at 1/2 with precision 1, so 51 of the 101 recall points score 1.
  anns[1]["iscrowd"] = 0;
  CHECK(eval_boxes(json::array({image(1)}), anns, dets).stats[0] == doctest::Approx(51.0 / 101.0).epsilon(1e-12));
}

TEST_CASE("evaluator: maxDets counts per image and category") {
  json dets = {det(1, {100, 100, 10, 10}, 0.9), det(1, {0, 0, 10, 10}, 0.8), det(2, {0, 0, 10, 10}, 0.95)};
  auto r = eval_boxes({image(1), image(2)}, {gt_ann(1, 1, {0, 0, 10, 10}), gt_ann(2, 2, {0, 0, 10, 10})}, dets);
  CHECK(r.stats[6] == doctest::Approx(0.5).epsilon(1e-12));  // AR1: image 1's top detection misses
  CHECK(r.stats[7] == 1.0);                                  // AR10 (recall has no eps)
}

TEST_CASE("evaluator: unmatched detections outside an area range are ignored in that range") {
  json dets = {det(1, {150, 150, 5, 5}, 0.9), det(1, {0, 0, 100, 100}, 0.8)};
  auto r = eval_boxes(json::array({image(1)}), json::array({gt_ann(1, 1, {0, 0, 100, 100})}), dets);
  CHECK(r.stats[0] == doctest::Approx(0.5).epsilon(1e-12));  // all areas: the small one is a false positive first
  CHECK(r.stats[5] == doctest::Approx(1.0).epsilon(1e-12));  // large: it is ignored
  CHECK(r.stats[3] == -1.0);                                 // small: no ground truth
}

TEST_CASE("results: segm areas are the box's w×h when the first result has a box (COCO.loadRes)") {
  json gt{{"images", json::array({image(1, 20, 20)})},
          {"annotations", {{{"id", 1}, {"image_id", 1}, {"category_id", 1}, {"bbox", {0, 0, 10, 10}}, {"area", 100},
                            {"segmentation", {{0, 0, 10, 0, 10, 10, 0, 10}}}}}},
          {"categories", {{{"id", 1}}}}};
  auto g = load_ground_truth(write_temp("gt.json", gt), true);
  auto sq = from_polygon({0, 0, 10, 0, 10, 10, 0, 10}, 20, 20);
  json seg{{"size", {20, 20}}, {"counts", to_string(sq)}};
  json with_box = {{{"image_id", 1}, {"category_id", 1}, {"score", 1.0}, {"bbox", {0, 0, 40, 40}}, {"segmentation", seg}}};
  auto d = load_results(write_temp("dt.json", with_box), g, true);
  CHECK(d[0].area == 1600);
  // The mask matches (IoU 1); as a "large" detection it is ignored in the small range only if unmatched.
  auto r = evaluate(g, d, IouType::segm);
  CHECK(r.stats[0] == doctest::Approx(1.0).epsilon(1e-12));
  CHECK(r.stats[3] == doctest::Approx(1.0).epsilon(1e-12));
  json mask_only = {{{"image_id", 1}, {"category_id", 1}, {"score", 1.0}, {"segmentation", seg}}};
  d = load_results(write_temp("dt.json", mask_only), g, true);
  CHECK(d[0].area == 100);
  CHECK(d[0].bbox == Box{0, 0, 10, 10});
}

TEST_CASE("malformed COCO files: one message naming the file, the place and what was expected") {
  json gt{{"images", json::array({image(1)})}, {"annotations", json::array({gt_ann(1, 1, {0, 0, 10, 10})})}, {"categories", {{{"id", 1}}}}};
  gt["annotations"][0]["bbox"] = {0, 0, 10};
  CHECK_THROWS_WITH(load_ground_truth(write_temp("bad.json", gt), false),
                    doctest::Contains("/annotations/0/bbox: expected [x, y, width, height]"));
  gt["annotations"][0]["bbox"] = {0, 0, 10, 10};
  gt["annotations"][0]["image_id"] = 7;
  CHECK_THROWS_WITH(load_ground_truth(write_temp("bad.json", gt), false), doctest::Contains("/annotations/0/image_id: no image with id 7"));
  gt["annotations"][0]["image_id"] = 1;
  gt["annotations"][0]["segmentation"] = {{"size", {200, 200}}, {"counts", {5, 5}}};
  CHECK_THROWS_WITH(load_ground_truth(write_temp("bad.json", gt), true), doctest::Contains("runs cover 10 pixels"));
  // bbox evaluation does not rasterise masks, but it checks them: a file segm refuses is refused.
  CHECK_THROWS_WITH(load_ground_truth(write_temp("bad.json", gt), false), doctest::Contains("runs cover 10 pixels"));
  gt["annotations"][0].erase("segmentation");
  auto g = load_ground_truth(write_temp("gt.json", gt), false);
  CHECK_THROWS_WITH(load_results(write_temp("dt.json", json::array({det(9, {0, 0, 1, 1}, 1)})), g, false),
                    doctest::Contains("/0/image_id: image 9 is not in the ground truth"));
  CHECK_THROWS_WITH(load_results(write_temp("dt.json", json::object()), g, false), doctest::Contains("expected a list of detections"));
  std::ofstream(write_temp("broken.json", 0)) << "[{";
  CHECK_THROWS_WITH(load_results(fs::temp_directory_path().string() + "/featjnd-coco-test-" + std::to_string(getpid()) + "/broken.json", g, false),
                    doctest::Contains("not valid JSON"));
}

TEST_CASE("results writer: what results_json writes, load_results reads back") {
  json gt{{"images", json::array({image(1, 20, 20)})}, {"annotations", json::array()}, {"categories", {{{"id", 1}}}}};
  auto g = load_ground_truth(write_temp("gt.json", gt), true);
  Annotation d;
  d.image_id = 1;
  d.category_id = 1;
  d.score = 0.25;
  d.bbox = {1.5, 2, 7, 8};
  d.mask = from_polygon({0, 0, 10, 0, 10, 10, 0, 10}, 20, 20);
  auto path = write_temp("dt.json", json::parse(results_json({d}, true)));
  auto back = load_results(path, g, true);
  REQUIRE(back.size() == 1);
  CHECK(back[0].image_id == 1);
  CHECK(back[0].category_id == 1);
  CHECK(back[0].score == 0.25);
  CHECK(back[0].bbox == d.bbox);
  CHECK(back[0].area == 7 * 8);  // a box-carrying result: loadRes's area
  CHECK(back[0].mask->counts == d.mask->counts);
}

TEST_CASE("ground truth rules: each broken rule named with its JSON pointer, degenerate entries read with one warning") {
  auto file = [](json anns) {
    return json{{"images", json::array({image(1, 20, 30)})}, {"annotations", anns}, {"categories", {{{"id", 1}}}}};
  };
  auto refused = [&](json ann, const std::string& what) {
    CAPTURE(what);
    for (bool masks : {false, true})
      CHECK_THROWS_WITH(load_ground_truth(write_temp("rules.json", file(json::array({ann}))), masks), doctest::Contains(what.c_str()));
  };
  json a = gt_ann(1, 1, {0, 0, 10, 10});
  a["segmentation"] = json::array({json::array({0, 0, 10, 0, 10, 10})});
  CHECK_NOTHROW(load_ground_truth(write_temp("rules.json", file(json::array({a}))), true));
  CHECK_THROWS_WITH(load_ground_truth(write_temp("rules.json", file(json::array({a, a}))), false),
                    doctest::Contains("/annotations/1/id: annotation id 1 appears twice"));
  json b = a;
  b["id"] = 0;
  refused(b, "/annotations/0/id: annotation ids are positive; found 0");
  b = a;
  b["bbox"] = {0, 0, -3, 10};
  refused(b, "/annotations/0/bbox: a box's width and height are ≥ 0");
  b = a;
  b["area"] = -1;
  refused(b, "/annotations/0/area: an area is ≥ 0");
  b = a;
  b["iscrowd"] = 2;
  refused(b, "/annotations/0/iscrowd: expected 0 or 1, found 2");
  b = a;
  b["segmentation"] = json::array({json::array({0, 0, 10, 0, 10, 10, 5})});
  refused(b, "/annotations/0/segmentation/0: expected a polygon of an even number of coordinates; this one has 7");
  // (a first entry of 4 numbers is a box, as frPyObjects reads it; after a polygon it is 2 points)
  b["segmentation"] = json::array({json::array({0, 0, 10, 0, 10, 10}), json::array({0, 0, 10, 0})});
  refused(b, "/annotations/0/segmentation/1: expected a polygon of at least 3 points");
  // A zig-zag across the image, every point inside it: 4000 edges of 30 pixels, 120,000 pixels of
  // outline, past 1000 times the 20x30 image's perimeter (100,000).
  std::vector<double> zigzag;
  for (int i = 0; i < 2000; ++i) zigzag.insert(zigzag.end(), {0.0, 1.0, 30.0, 19.0});
  b["segmentation"] = json::array({zigzag});
  refused(b, "/annotations/0/segmentation/0: the polygon's outline is 120000 pixels long, more than 1000 times the 20x30 "
             "image's perimeter");
  zigzag.resize(1600);  // 800 edges, 24,000 pixels: drawn
  b["segmentation"] = json::array({zigzag});
  CHECK_NOTHROW(load_ground_truth(write_temp("rules.json", file(json::array({b}))), true));
  b["segmentation"] = {{"size", {30, 20}}, {"counts", {600}}};  // transposed
  refused(b, "/annotations/0/segmentation/size: the mask is 30x20, its image 20x30");

  // Degenerate but structurally valid, as COCO 2017 has them: read, counted once each.
  json z = gt_ann(2, 1, {5, 5, 0, 4});
  z["area"] = 0;
  z["segmentation"] = json::array({json::array({5, 5, 5, 9, 5, 5})});
  json r = gt_ann(3, 1, {0, 0, 10, 10});
  r["segmentation"] = json::array({json::array({0, 0, 0, 0, 10, 0, 10, 10})});
  Dataset ds;
  CHECK_NOTHROW(ds = load_ground_truth(write_temp("degenerate.json", file(json::array({a, z, r}))), true));
  CHECK(ds.annotations.size() == 3);
  CHECK(ds.degenerate == 2);
  // An image too large for 32-bit run lengths is refused before any mask is made.
  json big = file(json::array({a}));
  big["images"][0]["height"] = 300000;
  big["images"][0]["width"] = 300000;
  CHECK_THROWS_WITH(load_ground_truth(write_temp("bigimage.json", big), false),
                    doctest::Contains("/images/0: expected a height and width in [1, 1000000] with fewer than 2^32 pixels"));
}

TEST_CASE("a polygon with a repeated point rasterises as without it (found by the COCO fuzzer: 0/0 in the rasteriser)") {
  auto with = from_polygon({1, 1, 9, 1, 9, 1, 9, 8, 1, 8}, 12, 12);
  auto without = from_polygon({1, 1, 9, 1, 9, 8, 1, 8}, 12, 12);
  CHECK(with.counts == without.counts);
  auto first = from_polygon({1, 1, 1, 1, 9, 1, 9, 8, 1, 8}, 12, 12);  // the repeat at the start
  CHECK(first.counts == without.counts);
  // Coordinates are bounded so that the rasteriser's integers cannot overflow.
  json gt{{"images", json::array({image(1)})}, {"annotations", json::array({gt_ann(1, 1, {0, 0, 1e9, 10})})},
          {"categories", {{{"id", 1}}}}};
  CHECK_THROWS_WITH(load_ground_truth(write_temp("huge.json", gt), false),
                    doctest::Contains("/annotations/0/bbox/2: expected a coordinate within ±1e8"));
  // A number past a double's range is invalid JSON with the file named, not an escaped exception.
  CHECK_THROWS_AS(parse_ground_truth(R"({"images": [1e999999]})", "big.json", false), std::runtime_error);
  CHECK_THROWS_WITH(parse_ground_truth(R"({"images": [1e999999]})", "big.json", false),
                    doctest::Contains("big.json: not valid JSON"));
  // An id as a float past int64 is refused, not converted (undefined behaviour; found by the fuzzer).
  CHECK_THROWS_WITH(parse_ground_truth(R"({"images": [{"id": 3.3e21, "height": 2, "width": 2}]})", "id.json", false),
                    doctest::Contains("/images/0/id: expected an integer, found 3.3e+21"));
}

TEST_CASE("a box far beyond its image covers the same pixels, in time of the image's size (found by the fuzzer)") {
  auto huge = from_box({3, 3, 1.011e7, 12}, 20, 20);
  auto clipped = from_box({3, 3, 17, 12}, 20, 20);
  CHECK(huge.counts == clipped.counts);
  CHECK(area(huge) == 17 * 12);
  json gt{{"images", json::array({image(1, 20, 20)})}, {"annotations", json::array({gt_ann(1, 1, {0, 0, 5, 5})})},
          {"categories", {{{"id", 1}}}}};
  gt["annotations"][0]["segmentation"] = json::array({json::array({0, 0, 5, 0, 5, 1e6})});
  CHECK_THROWS_WITH(load_ground_truth(write_temp("far.json", gt), true),
                    doctest::Contains("/annotations/0/segmentation/0/5: 1000000 lies far outside the 20x20 image"));
}
