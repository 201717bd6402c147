#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace featjnd::cli {

// One self-contained HTML page (no network access; data, scripts, styles and figures inline) from
// `report --format json`'s document: the experiment, its provenance and spec, the paper's tables,
// every figure tools/plot_figures.py can draw from it, the inspection images, and a runs table
// with filter, sort, "varying only" and CSV export. Written to `path` atomically.
void write_html_report(const nlohmann::json& report, const std::string& path);

// Shared with `figures`: the plotting tool on a database or on a report document.
int draw_figures(const std::string& db, const std::string& out, const std::string& json);

}  // namespace featjnd::cli
