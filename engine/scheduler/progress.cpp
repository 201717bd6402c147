#include "scheduler/progress.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace featjnd {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "--";
  auto t = static_cast<int64_t>(std::llround(s));
  if (t >= 3600) return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
  if (t >= 60) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}s", t);
}

ProgressDisplay::ProgressDisplay(int64_t total_runs, bool interactive)
    : total_(total_runs), interactive_(interactive) {}

ProgressDisplay::~ProgressDisplay() = default;

void ProgressDisplay::set_devices(const std::vector<std::string>& devices) {
  order_ = devices;
  for (auto& d : devices) lines_[d].device = d;
}

std::string ProgressDisplay::bar(double f, int width) const {
  f = std::clamp(f, 0.0, 1.0);
  int full = static_cast<int>(f * width);
  std::string s = "[";
  for (int i = 0; i < width; ++i) s += i < full ? "#" : (i == full ? ">" : ".");
  return s + "]";
}

void ProgressDisplay::set_pending(const std::map<std::string, int64_t>& runs_per_type) {
  for (auto& [type, n] : runs_per_type) types_[type].left = n;
}

ProgressDisplay::Eta ProgressDisplay::estimate() const {
  Eta e;
  for (auto& [type, t] : types_) {
    if (t.left <= 0) continue;
    if (t.measured == 0) {
      e.lower_bound = true;
      continue;
    }
    e.known = true;
    e.seconds += static_cast<double>(t.left) * t.seconds / static_cast<double>(t.measured);
  }
  // Devices work in parallel.
  e.seconds /= static_cast<double>(std::max<size_t>(1, order_.size()));
  return e;
}

std::string ProgressDisplay::eta() const {
  const auto e = estimate();
  if (!e.known) return "--";
  return (e.lower_bound ? "≥" : "") + format_duration(e.seconds);
}

void ProgressDisplay::clear() {
  if (interactive_ && drawn_ > 0) {
    std::fprintf(stderr, "\x1b[%dF\x1b[J", drawn_);
    drawn_ = 0;
  }
}

void ProgressDisplay::redraw(bool force) {
  auto now = std::chrono::steady_clock::now();
  if (!interactive_) {
    // Logs get a status line per busy device every 30 s, so long runs are not silent.
    if (now - last_draw_ < std::chrono::seconds(30)) return;
    last_draw_ = now;
    for (auto& d : order_) {
      auto& l = lines_[d];
      if (l.run.empty()) continue;
      std::string inner = l.total > 0 ? fmt::format("{}/{} ({:.0f}%)", l.done, l.total, 100.0 * double(l.done) / double(l.total))
                                      : fmt::format("{} steps", l.done);
      std::fprintf(stderr, "  %s: %s %s %s  [runs %lld/%lld, ETA %s]\n", d.c_str(), l.run.c_str(), inner.c_str(),
                   l.last_metric.c_str(), (long long)(finished_ + failed_), (long long)total_, eta().c_str());
    }
    return;
  }
  if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  clear();
  int64_t done = finished_ + failed_;
  std::string out = fmt::format("runs {} {}/{}  ETA {}{}\n",
                                bar(total_ ? double(done) / double(total_) : 1.0, 30), done, total_, eta(),
                                failed_ ? fmt::format("  failed {}", failed_) : "");
  for (auto& d : order_) {
    auto& l = lines_[d];
    std::string inner = l.total > 0 ? fmt::format("{} {}/{}", bar(double(l.done) / double(l.total), 16), l.done, l.total)
                                    : (l.run.empty() ? "idle" : fmt::format("{} batches", l.done));
    std::string label = l.run.size() > 48 ? l.run.substr(0, 45) + "..." : l.run;
    out += fmt::format("  {:<8} {:<48} {}  {}\n", d, label, inner, l.last_metric);
  }
  std::fputs(out.c_str(), stderr);
  std::fflush(stderr);
  drawn_ = 1 + static_cast<int>(order_.size());
}

void ProgressDisplay::message(const std::string& text) {
  clear();
  std::fprintf(stderr, "%s\n", text.c_str());
  redraw(true);
}

void ProgressDisplay::run_ended(const std::string& status, const std::string& type, const std::string& label,
                                const std::string& device, double seconds, const std::string& detail) {
  if (status == "finished")
    ++finished_;
  else
    ++failed_;
  auto& t = types_[type];
  t.left = std::max<int64_t>(0, t.left - 1);
  if (status == "finished") {  // a failure's duration says nothing about the others'
    ++t.measured;
    t.seconds += seconds;
  }
  if (!interactive_ || status != "finished") {
    auto text = fmt::format("[{}/{}] {} {} ({}, {}){}", finished_ + failed_, total_, status, label, device,
                            format_duration(seconds), detail.empty() ? "" : "  " + detail);
    if (interactive_)
      message(text);
    else
      std::fprintf(stderr, "%s\n", text.c_str());
  }
  redraw(true);
}

void ProgressDisplay::finish() {
  redraw(true);
  drawn_ = 0;
}

}  // namespace featjnd
