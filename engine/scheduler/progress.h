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
  // The runs still to do, per stage type (prepare, fit, evaluate, inspect): the ETA adds, per
  // type, the runs left times the mean duration of that type's finished runs. One mean over all
  // runs let a 35-minute training run predict "81h" for a sweep of one-second evaluations.
  void set_pending(const std::map<std::string, int64_t>& runs_per_type);
  void run_ended(const std::string& status, const std::string& type, const std::string& label,
                 const std::string& device, double seconds, const std::string& detail);
  void redraw(bool force = false);
  void message(const std::string& text);  // a line above the bars
  void finish();
  int64_t finished() const { return finished_; }
  int64_t failed() const { return failed_; }
  struct Eta {
    double seconds = 0;
    bool known = false;        // some type has a measured duration
    bool lower_bound = false;  // a type with runs left has none measured yet: at least this long
  };
  Eta estimate() const;

 private:
  std::string bar(double fraction, int width) const;
  std::string eta() const;
  void clear();

  int64_t total_;
  int64_t finished_ = 0, failed_ = 0;
  bool interactive_;
  std::vector<std::string> order_;
  struct TypeTimes {
    int64_t left = 0, measured = 0;
    double seconds = 0;
  };
  std::map<std::string, TypeTimes> types_;
  std::map<std::string, DeviceLine> lines_;
  int drawn_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_draw_ = std::chrono::steady_clock::now();
};

std::string format_duration(double seconds);

}  // namespace featjnd
