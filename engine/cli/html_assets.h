// The HTML report's page, style and script: engine/cli/assets/report.{html,css,js}, embedded at
// build time (CMake writes html_assets.cpp from them; editing an asset reconfigures).
#pragma once

namespace featjnd::cli::assets {
extern const char* const kReportHtml;  // @STYLE@, @SCRIPT@, @DATA@ and @FIGURES@ mark where the rest goes
extern const char* const kReportCss;
extern const char* const kReportJs;
}  // namespace featjnd::cli::assets
