// What a results database holds besides the evaluations' tables: every run with its parameters,
// status and final metrics (the HTML runs table), the inspection images of `inspect` stages, and
// the experiment's description, spec and provenance.
#pragma once

#include <nlohmann/json.hpp>

#include "analysis/evaluations.h"
#include "store/store.h"

namespace featjnd::analysis {

// [{id, stage, type, label, status, seconds, params: {...}, metrics: {...}}] in run order.
nlohmann::json runs_json(Store& store);

// [{run, stage, label, network, images: [{index, files: {image, tolerance, ig_clean, ...},
//   metrics: {spearman, topk_overlap, ...}}]}], files as absolute paths.
nlohmann::json inspections_json(Store& store);

// {experiments: [...], invocations: [{command, spec, overrides, engine, git, torch, plugins}]}.
nlohmann::json provenance_json(Store& store);

// Everything the figures tool and the HTML page read: the analyses of `metrics`, Table 2, the
// inspections, every run and the provenance (`report --format json`).
nlohmann::json report_json(Store& store, const std::vector<Evaluation>& evals, const std::vector<std::string>& metrics,
                           const std::string& db);

std::vector<std::string> split_list(const std::string& comma_separated);

}  // namespace featjnd::analysis
