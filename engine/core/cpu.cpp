#include "core/cpu.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

namespace featjnd {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return in ? ss.str() : std::string();
}

// CPUs a quota allows (rounded up: 1.5 CPUs keep two threads busy part of the time), 0 if none.
int quota_cpus(double quota, double period) {
  if (quota <= 0 || period <= 0) return 0;
  return std::max(1, static_cast<int>(std::ceil(quota / period - 1e-9)));
}

// cgroup v2: the smallest cpu.max along the path from the process's cgroup up to the root.
int v2_limit(const std::string& root, std::string path) {
  int best = 0;
  while (true) {
    std::istringstream in(read_text(root + path + "/cpu.max"));
    std::string quota;
    double period = 0;
    if (in >> quota >> period && quota != "max") {
      const int n = quota_cpus(std::atof(quota.c_str()), period);
      if (n > 0) best = best == 0 ? n : std::min(best, n);
    }
    if (path.empty() || path == "/") break;
    path = path.substr(0, path.find_last_of('/'));
  }
  return best;
}

// cgroup v1: cpu.cfs_quota_us / cpu.cfs_period_us of the cpu controller's cgroup.
int v1_limit(const std::string& root, const std::string& path) {
  for (const char* mount : {"/cpu,cpuacct", "/cpu", "/cpuacct,cpu"}) {
    const std::string dir = root + mount + path;
    const std::string q = read_text(dir + "/cpu.cfs_quota_us"), p = read_text(dir + "/cpu.cfs_period_us");
    if (!q.empty() && !p.empty()) return quota_cpus(std::atof(q.c_str()), std::atof(p.c_str()));
  }
  return 0;
}

}  // namespace

int usable_cpus_from(int affinity, const std::string& proc_self_cgroup, const std::string& cgroup_root) {
  int n = std::max(1, affinity);
  std::istringstream lines(proc_self_cgroup);
  std::string line;
  while (std::getline(lines, line)) {  // "hierarchy-id:controllers:path"
    const auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    int limit = 0;
    if (line.compare(0, 2, "0:") == 0 && controllers.empty()) limit = v2_limit(cgroup_root, path);
    else if (("," + controllers + ",").find(",cpu,") != std::string::npos) limit = v1_limit(cgroup_root, path);
    if (limit > 0) n = std::min(n, limit);
  }
  return n;
}

int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  int affinity = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set)
                                                             : static_cast<int>(std::thread::hardware_concurrency());
  return usable_cpus_from(affinity, read_text("/proc/self/cgroup"), "/sys/fs/cgroup");
}

}  // namespace featjnd
