// core/cpu.h: the CPUs a worker may use, from the affinity mask and the cgroup quota (a fake
// cgroup tree here; tests/integration/test_threads.sh checks the real affinity with taskset).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include "core/cpu.h"

namespace fs = std::filesystem;

namespace {
struct FakeCgroups {
  fs::path root = fs::temp_directory_path() / ("featjnd-cgroup-" + std::to_string(getpid()));
  FakeCgroups() { fs::create_directories(root); }
  ~FakeCgroups() { fs::remove_all(root); }
  void write(const std::string& rel, const std::string& text) {
    fs::create_directories((root / rel).parent_path());
    std::ofstream(root / rel) << text;
  }
};
}  // namespace

TEST_CASE("usable CPUs: the affinity mask, capped by a cgroup v2 quota anywhere up the path") {
  FakeCgroups cg;
  const std::string self = "0::/slurm/job_7/step_0\n";
  CHECK(featjnd::usable_cpus_from(64, self, cg.root.string()) == 64);  // no cpu.max: no quota
  cg.write("slurm/job_7/step_0/cpu.max", "max 100000\n");
  CHECK(featjnd::usable_cpus_from(64, self, cg.root.string()) == 64);
  cg.write("slurm/job_7/cpu.max", "400000 100000\n");  // 4 CPUs for the job
  CHECK(featjnd::usable_cpus_from(64, self, cg.root.string()) == 4);
  CHECK(featjnd::usable_cpus_from(2, self, cg.root.string()) == 2);  // the mask is smaller
  cg.write("cpu.max", "150000 100000\n");  // 1.5 CPUs at the top: rounded up
  CHECK(featjnd::usable_cpus_from(64, self, cg.root.string()) == 2);
}

TEST_CASE("usable CPUs: a cgroup v1 CFS quota; none (-1) leaves the mask") {
  FakeCgroups cg;
  const std::string self = "4:memory:/job\n2:cpu,cpuacct:/job\n0::/\n";
  cg.write("cpu,cpuacct/job/cpu.cfs_quota_us", "-1\n");
  cg.write("cpu,cpuacct/job/cpu.cfs_period_us", "100000\n");
  CHECK(featjnd::usable_cpus_from(16, self, cg.root.string()) == 16);
  cg.write("cpu,cpuacct/job/cpu.cfs_quota_us", "300000\n");
  CHECK(featjnd::usable_cpus_from(16, self, cg.root.string()) == 3);
  CHECK(featjnd::usable_cpus_from(0, "", cg.root.string()) == 1);  // never fewer than one
  CHECK(featjnd::usable_cpus() >= 1);
}
