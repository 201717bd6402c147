#include "cli/html_report.h"
#include "cli/html_assets.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "core/errors.h"

namespace fs = std::filesystem;

namespace featjnd::cli {
namespace {

std::string base64(const std::string& bytes) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t v = uint32_t(static_cast<unsigned char>(bytes[i])) << 16;
    if (i + 1 < bytes.size()) v |= uint32_t(static_cast<unsigned char>(bytes[i + 1])) << 8;
    if (i + 2 < bytes.size()) v |= uint32_t(static_cast<unsigned char>(bytes[i + 2]));
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? k[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? k[v & 63] : '=';
  }
  return out;
}

std::string png_uri(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return "data:image/png;base64," + base64(ss.str());
}

// JSON inside <script>: "</" would end the element.
std::string script_json(const nlohmann::json& j) {
  auto s = j.dump();
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '<' && i + 1 < s.size() && s[i + 1] == '/') out += "<\\/", ++i;
    else out += s[i];
  }
  return out;
}

// The figures tools/plot_figures.py draws from the document, as data URIs by name.
nlohmann::json figures_of(const nlohmann::json& report, const std::string& python) {
  const auto dir = fs::temp_directory_path() / fmt::format("featjnd-html-{}", getpid());
  fs::create_directories(dir);
  const auto json_path = (dir / "report.json").string();
  std::ofstream(json_path) << report.dump();
  nlohmann::json figures = nlohmann::json::object();
  const auto r = draw_figures(report.value("database", ""), (dir / "figures").string(), json_path, python);
  if (r.status == 0) {
    for (auto& f : fs::directory_iterator(dir / "figures"))
      if (f.path().extension() == ".png") figures[f.path().stem().string()] = png_uri(f.path().string());
  } else {
    std::fprintf(stderr, "featjnd-engine: warning: report --html: the page has no figures: %s could not draw them (%s); "
                 "--python or FEATJND_PYTHON names an interpreter with matplotlib\n", python.c_str(), r.error.c_str());
  }
  fs::remove_all(dir);
  return figures;
}

// The inspection images inline: the page opens anywhere, without the artifacts folder.
nlohmann::json inline_images(nlohmann::json report) {
  for (auto& insp : report["inspections"])
    for (auto& im : insp["images"])
      for (auto& [name, path] : im["files"].items()) path = png_uri(path.get<std::string>());
  return report;
}

}  // namespace

void write_html_report(const nlohmann::json& report, const std::string& path, const std::string& python) {
  // engine/cli/assets/report.{html,css,js}, embedded at build time (generated html_assets.cpp).
  std::string page = assets::kReportHtml;
  auto put = [&](const std::string& marker, const std::string& text) {
    const auto at = page.find(marker);
    if (at == std::string::npos) throw std::logic_error("html template lacks " + marker);
    page.replace(at, marker.size(), text);
  };
  put("@STYLE@", assets::kReportCss);
  put("@SCRIPT@", assets::kReportJs);
  // The report's own text (a description, a label) may hold any string: it goes in last.
  put("@FIGURES@", script_json(figures_of(report, python)));
  put("@DATA@", script_json(inline_images(report)));
  const auto partial = path + ".partial";
  {
    std::ofstream out(partial);
    if (!out) throw UserError(fmt::format("report: cannot write {}", path));
    out << page;
  }
  fs::rename(partial, path);
}

}  // namespace featjnd::cli
