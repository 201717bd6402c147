// Table 2 of the paper (Appendix C.4): token-wise quantization at matched budgets σ_q, per task
// (classification top-1, detection bbox AP from the estimator fitted on D_det, instance
// segmentation segm AP from the one fitted on D_seg), with the FeatJND-based row, the Random row
// (mean ± std over its seeds), their difference Δ, and Uniform; one column per backbone.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/tables.h"

namespace featjnd::analysis {

struct Table2Cell {
  Stat guided, random, uniform;
  Stat guided_nrmse, random_at, uniform_at;  // matched measured NRMSE, beside the nominal budget
  bool present = false;
};

struct Table2Block {
  std::string task;    // classification | detection | segmentation
  std::string metric;  // top1 | bbox.AP | segm.AP
  std::vector<std::string> columns;  // one per backbone (group label without the discrepancy)
  std::vector<double> budgets;
  std::vector<std::vector<Table2Cell>> cells;  // [budget][column]
};

std::vector<Table2Block> table2(const std::vector<Evaluation>& evals);

// format: text | md | csv | latex | json
std::string render_table2(const std::vector<Table2Block>& blocks, const std::string& format);

}  // namespace featjnd::analysis
