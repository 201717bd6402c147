#pragma once
#include <string>
#include <vector>

namespace featjnd::cli {

// Each returns the process exit code; user errors are thrown as featjnd::UserError.
int cmd_run(const std::vector<std::string>& args);
int cmd_plugins(const std::vector<std::string>& args);
int cmd_status(const std::vector<std::string>& args);
int cmd_query(const std::vector<std::string>& args);
int cmd_export(const std::vector<std::string>& args);
int cmd_merge(const std::vector<std::string>& args);
int cmd_bench(const std::vector<std::string>& args);
int cmd_report(const std::vector<std::string>& args);
int cmd_worker(const std::vector<std::string>& args);
int cmd_coco_eval(const std::vector<std::string>& args);
int cmd_figures(const std::vector<std::string>& args);
int cmd_export_estimator(const std::vector<std::string>& args);

}  // namespace featjnd::cli
