// `coco-eval`: the 12 COCO statistics of a results file against an instances file, computed by
// engine/coco (pycocotools' semantics, no Python).
#include <chrono>
#include <cstdio>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "coco/evaluator.h"
#include "core/errors.h"

namespace featjnd::cli {

int cmd_coco_eval(const std::vector<std::string>& args) {
  po::options_description opts("coco-eval options");
  std::string gt_path, dt_path, iou;
  bool as_json = false, per_category = false;
  opts.add_options()("gt", po::value(&gt_path)->required(), "COCO instances JSON (ground truth)")(
      "dt", po::value(&dt_path)->required(), "detections in the COCO results format")(
      "iou", po::value(&iou)->default_value("bbox"), "bbox or segm")(
      "json", po::bool_switch(&as_json), "print {\"stats\": [12 numbers]} instead of the summary")(
      "per-category", po::bool_switch(&per_category), "also print AP per category");
  po::positional_options_description pos;
  po::variables_map vm;
  if (!parse("coco-eval", "--gt GT.json --dt DT.json --iou bbox|segm [--json]", args, opts, pos, vm)) return 0;
  if (iou != "bbox" && iou != "segm") throw UserError(fmt::format("coco-eval: --iou '{}': expected bbox or segm", iou));
#ifdef __GLIBC__
  // The JSON documents are millions of small allocations, built and freed once: grow the heap in
  // large steps and never give it back (the process ends soon after). A tenth of the run was brk
  // calls and their page faults.
  mallopt(M_TOP_PAD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
  const auto type = iou == "segm" ? coco::IouType::segm : coco::IouType::bbox;
  const bool masks = type == coco::IouType::segm;
  using clk = std::chrono::steady_clock;
  const auto t0 = clk::now();
  coco::Dataset gt;
  std::vector<coco::Annotation> dt;
  try {
    gt = coco::load_ground_truth(gt_path, masks);
    dt = coco::load_results(dt_path, gt, masks);
  } catch (const std::runtime_error& e) {
    throw UserError(e.what());
  }
  const auto t1 = clk::now();
  const auto r = coco::evaluate(gt, dt, type);
  const auto t2 = clk::now();
  if (as_json) {
    nlohmann::json out{{"stats", r.stats}};
    if (per_category) {
      out["categories"] = r.category_ids;
      out["ap_per_category"] = r.ap_per_category;
    }
    std::puts(out.dump().c_str());
  } else {
    std::fputs(coco::summary_text(r, type).c_str(), stdout);
    if (per_category)
      for (size_t k = 0; k < r.category_ids.size(); ++k)
        std::printf("category %lld: AP %.3f\n", static_cast<long long>(r.category_ids[k]), r.ap_per_category[k]);
  }
  {
    std::fprintf(stderr, "coco-eval: %zu images, %zu ground-truth and %zu detections; read %.3f s, evaluated %.3f s\n",
                 gt.images.size(), gt.annotations.size(), dt.size(), std::chrono::duration<double>(t1 - t0).count(),
                 std::chrono::duration<double>(t2 - t1).count());
  }
  return 0;
}

}  // namespace featjnd::cli
