#pragma once
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace featjnd {

// Per-device bars with done/total, ETA and the last metric when stderr is a terminal; one plain
// line per finished or failed run otherwise (logs, CI, Slurm).
class ProgressDisplay {
 public:
  struct DeviceLine {
    std::string device;
    std::string run;  // label of the current run, empty when idle
    int64_t done = 0, total = 0;
    std::string last_metric;
  };

  ProgressDisplay(int64_t total_runs, bool interactive);
  ~ProgressDisplay();
  void set_devices(const std::vector<std::string>& devices);
  DeviceLine& device(const std::string& d) { return lines_[d]; }
  void run_ended(const std::string& status, const std::string& label, const std::string& device,
                 double seconds, const std::string& detail);
  void redraw(bool force = false);
  void message(const std::string& text);  // a line above the bars
  void finish();
  int64_t finished() const { return finished_; }
  int64_t failed() const { return failed_; }

 private:
  std::string bar(double fraction, int width) const;
  std::string eta() const;
  void clear();

  int64_t total_;
  int64_t finished_ = 0, failed_ = 0;
  bool interactive_;
  std::vector<std::string> order_;
  std::map<std::string, DeviceLine> lines_;
  int drawn_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_draw_ = std::chrono::steady_clock::now();
};

std::string format_duration(double seconds);

}  // namespace featjnd
