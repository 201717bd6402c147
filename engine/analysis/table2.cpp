#include "analysis/table2.h"
#include "analysis/format.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

namespace featjnd::analysis {
namespace {

struct TaskTable {
  const char* task;
  const char* metric;
  const char* discrepancy;  // the fit whose estimator guides this table's quantizer
};
const TaskTable kTasks[] = {{"classification", "top1", nullptr},
                            {"detection", "bbox.AP", "det"},
                            {"segmentation", "segm.AP", "segm"}};

// One task's block: the groups fitted with the task's own discrepancy when the database holds
// fits with different ones (else every group), one column each.
std::optional<Table2Block> block_of(const std::vector<Evaluation>& evals, const TaskTable& t) {
  const auto a = analyse(evals, t.metric);
  // The task's discrepancy parameter, when it varies (whatever the task component is named).
  auto discrepancy_of = [](const Group& g) -> std::optional<std::string> {
    for (auto& [k, v] : g.setting)
      if (k.size() > 12 && k.compare(k.size() - 12, 12, ".discrepancy") == 0 && v.is_string()) return v.get<std::string>();
    return std::nullopt;
  };
  bool by_discrepancy = false;
  for (auto& g : a.groups) by_discrepancy = by_discrepancy || discrepancy_of(g).has_value();
  Table2Block b{t.task, t.metric, {}, {}, {}};
  std::vector<Quantization> columns;
  std::vector<const Group*> shown;
  for (auto& g : a.groups) {
    if (t.discrepancy && by_discrepancy && discrepancy_of(g) && *discrepancy_of(g) != t.discrepancy) continue;
    auto qs = quantization(g, t.metric);
    if (qs.empty()) continue;
    shown.push_back(&g);
    columns.push_back(qs.front());  // the quantizers' default parameters come first ("" suffix)
  }
  std::set<std::string> without;  // the block says which D
  for (auto* g : shown)
    for (auto& [k, v] : g->setting)
      if (discrepancy_of(*g) && k.size() > 12 && k.compare(k.size() - 12, 12, ".discrepancy") == 0) without.insert(k);
  b.columns = labels_of(shown, without);
  if (columns.empty()) return std::nullopt;
  std::set<double> budgets;
  for (auto& q : columns)
    for (auto& r : q.rows) budgets.insert(r.sigma_q);
  b.budgets.assign(budgets.begin(), budgets.end());
  for (double s : b.budgets) {
    std::vector<Table2Cell> row;
    for (auto& q : columns) {
      Table2Cell c;
      for (auto& r : q.rows)
        if (r.sigma_q == s) c = {r.guided, r.random, r.uniform, r.guided_nrmse, r.random_at, r.uniform_at, true};
      row.push_back(c);
    }
    b.cells.push_back(row);
  }
  return b;
}

std::string signed_pct(double v) { return std::isnan(v) ? "—" : fmt::format("{:+.2f}", 100 * v); }
std::string pct_std(const Stat& s) {
  if (std::isnan(s.mean)) return "—";
  return s.n > 1 ? fmt::format("{} ± {}", pct(s.mean), pct(s.std)) : pct(s.mean);
}
std::string budget(double s) { return fmt::format("{:g}", s); }

// The four rows of a budget: name and the cell text of one column.
struct RowKind {
  const char* name;
  std::string (*cell)(const Table2Cell&);
};
const RowKind kRows[] = {
    {"FeatJND-based", [](const Table2Cell& c) { return pct(c.guided.mean); }},
    {"Random", [](const Table2Cell& c) { return pct_std(c.random); }},
    {"Δ", [](const Table2Cell& c) { return signed_pct(c.guided.mean - c.random.mean); }},
    {"Uniform", [](const Table2Cell& c) { return pct(c.uniform.mean); }},
};

std::string metric_name(const std::string& m) { return m == "top1" ? "top-1" : m; }

std::string render_text(const std::vector<Table2Block>& blocks, bool markdown) {
  std::string out = "Table 2: token-wise quantization at matched budgets sigma_q; FeatJND-based against Random (the same "
                    "steps permuted, mean ± std over seeds), their difference Δ, and Uniform. Metric in %.\n";
  for (auto& b : blocks) {
    out += fmt::format("\n{}{} ({} %){}\n", markdown ? "**" : "", b.task, metric_name(b.metric), markdown ? "**\n" : "");
    std::string head = markdown ? "| σ_q | |" : fmt::format("  {:<8} {:<14}", "sigma_q", "");
    for (auto& c : b.columns) head += markdown ? fmt::format(" {} |", c) : fmt::format(" {:>16}", c);
    out += head + "\n";
    if (markdown) {
      out += "|---|---|";
      for (size_t i = 0; i < b.columns.size(); ++i) out += "---:|";
      out += "\n";
    }
    for (size_t i = 0; i < b.budgets.size(); ++i)
      for (auto& kind : kRows) {
        const bool first = &kind == &kRows[0];
        std::string line = markdown ? fmt::format("| {} | {} |", first ? budget(b.budgets[i]) : "", kind.name)
                                    : fmt::format("  {:<8} {:<14}", first ? budget(b.budgets[i]) : "", kind.name);
        for (auto& c : b.cells[i]) line += markdown ? fmt::format(" {} |", kind.cell(c)) : fmt::format(" {:>16}", kind.cell(c));
        out += line + "\n";
      }
  }
  return out;
}

std::string render_csv(const std::vector<Table2Block>& blocks) {
  std::string out = "task,metric,sigma_q,row,backbone,mean,std,n\n";
  auto line = [&](const Table2Block& b, double s, const char* row, const std::string& col, const Stat& st) {
    auto num = [](double v) { return std::isnan(v) ? std::string() : fmt::format("{:.6g}", v); };
    out += fmt::format("{},{},{},{},\"{}\",{},{},{}\n", b.task, b.metric, budget(s), row, col, num(st.mean), num(st.std), st.n);
  };
  for (auto& b : blocks)
    for (size_t i = 0; i < b.budgets.size(); ++i)
      for (size_t j = 0; j < b.columns.size(); ++j) {
        const auto& c = b.cells[i][j];
        line(b, b.budgets[i], "featjnd", b.columns[j], c.guided);
        line(b, b.budgets[i], "random", b.columns[j], c.random);
        Stat d{c.guided.mean - c.random.mean, NAN, c.random.n};
        line(b, b.budgets[i], "delta", b.columns[j], d);
        line(b, b.budgets[i], "uniform", b.columns[j], c.uniform);
      }
  return out;
}

std::string latex_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (std::string("_%&#$").find(ch) != std::string::npos) out += '\\';
    out += ch;
  }
  return out;
}

// A table environment with one tabular per task; only LaTeX's own commands (no packages).
std::string render_latex(const std::vector<Table2Block>& blocks) {
  std::string out = "\\begin{table}[t]\n\\centering\n\\caption{Token-wise quantization at matched budgets $\\sigma_q$: "
                    "FeatJND-based step allocation against Random (the same steps permuted; mean $\\pm$ std over seeds), "
                    "their difference $\\Delta$, and Uniform (metric in \\%).}\n";
  for (auto& b : blocks) {
    out += fmt::format("\\par\\medskip\n\\begin{{tabular}}{{ll{}}}\n\\hline\n", std::string(b.columns.size(), 'r'));
    out += fmt::format("\\multicolumn{{2}}{{l}}{{{} ({}, \\%)}}", b.task, latex_escape(metric_name(b.metric)));
    for (auto& c : b.columns) out += " & " + latex_escape(c);
    out += " \\\\\n\\hline\n";
    for (size_t i = 0; i < b.budgets.size(); ++i)
      for (auto& kind : kRows) {
        const bool first = &kind == &kRows[0];
        const std::string name = std::string(kind.name) == "Δ" ? "$\\Delta$" : kind.name;
        out += fmt::format("{} & {}", first ? "$" + budget(b.budgets[i]) + "$" : "", name);
        for (auto& c : b.cells[i]) {
          auto t = kind.cell(c);
          if (auto pm = t.find(" ± "); pm != std::string::npos) t = "$" + t.substr(0, pm) + " \\pm " + t.substr(pm + 4) + "$";
          if (t == "—") t = "--";
          out += " & " + t;
        }
        out += " \\\\\n";
      }
    out += "\\hline\n\\end{tabular}\n";
  }
  return out + "\\end{table}\n";
}

nlohmann::json block_json(const Table2Block& b) {
  nlohmann::json rows = nlohmann::json::array();
  for (size_t i = 0; i < b.budgets.size(); ++i) {
    nlohmann::json cells = nlohmann::json::array();
    for (auto& c : b.cells[i]) {
      auto delta = c.guided.mean - c.random.mean;
      cells.push_back({{"featjnd", to_json(c.guided)}, {"random", to_json(c.random)},
                       {"delta", std::isnan(delta) ? nlohmann::json() : nlohmann::json(delta)},
                       {"uniform", to_json(c.uniform)}, {"featjnd_nrmse", to_json(c.guided_nrmse)},
                       {"random_at_featjnd_nrmse", to_json(c.random_at)},
                       {"uniform_at_featjnd_nrmse", to_json(c.uniform_at)}});
    }
    rows.push_back({{"sigma_q", b.budgets[i]}, {"cells", cells}});
  }
  return {{"task", b.task}, {"metric", b.metric}, {"columns", b.columns}, {"rows", rows}};
}

}  // namespace

std::vector<Table2Block> table2(const std::vector<Evaluation>& evals) {
  std::vector<Table2Block> out;
  for (auto& t : kTasks)
    if (auto b = block_of(evals, t)) out.push_back(std::move(*b));
  return out;
}

std::string render_table2(const std::vector<Table2Block>& blocks, const std::string& format) {
  if (format == "text") return render_text(blocks, false);
  if (format == "md") return render_text(blocks, true);
  if (format == "csv") return render_csv(blocks);
  if (format == "latex") return render_latex(blocks);
  if (format == "json") {
    nlohmann::json j = nlohmann::json::array();
    for (auto& b : blocks) j.push_back(block_json(b));
    return nlohmann::json{{"table2", j}}.dump(2) + "\n";
  }
  throw std::invalid_argument("table 2 format '" + format + "'; expected text, md, csv, latex or json");
}

}  // namespace featjnd::analysis
