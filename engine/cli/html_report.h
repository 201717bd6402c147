#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace featjnd::cli {

// One self-contained HTML page (no network access; data, scripts, styles and figures inline) from
// `report --format json`'s document: the experiment, its provenance and spec, the paper's tables,
// every figure tools/plot_figures.py can draw from it, the inspection images, and a runs table
// with filter, sort, "varying only" and CSV export. Written to `path` atomically. The figures are
// drawn with `python`; when it cannot draw them, the page has none and one warning line says why.
void write_html_report(const nlohmann::json& report, const std::string& path, const std::string& python);

// The interpreter that runs tools/plot_figures.py: `option` (--python), else $FEATJND_PYTHON, else
// the project's environment CMake found (FEATJND_DEFAULT_PYTHON) where it exists, else python3.
std::string python_interpreter(const std::string& option);

struct ToolResult {
  int status = 0;     // the tool's exit status
  std::string error;  // its last line on stderr when it failed
};
// tools/<tool> (in $FEATJND_TOOLS_DIR, <prefix>/share/featjnd or the source tree) run by `python` with `args`: a successful run's
// warnings pass through to stderr; a failed run's last stderr line is kept in `error`.
ToolResult run_python_tool(const std::string& python, const std::string& tool, const std::vector<std::string>& args);
// Shared with `figures`: the plotting tool on a database or on a report document.
ToolResult draw_figures(const std::string& db, const std::string& out, const std::string& json,
                        const std::string& python);

}  // namespace featjnd::cli
