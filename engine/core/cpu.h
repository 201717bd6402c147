// How many CPUs this process may use: what a worker sizes its thread pool by. On a cluster node
// std::thread::hardware_concurrency() counts every CPU of the machine (64 on a node where Slurm
// gave the job 4), so the engine takes the process's CPU affinity (taskset, Slurm's cpusets) and
// the cgroup's CPU quota (cgroup v2 cpu.max, v1 cpu.cfs_quota_us: containers, Slurm's cgroup
// plugin), whichever is smaller.
#pragma once

#include <string>

namespace featjnd {

// At least 1.
int usable_cpus();

// The same, from its parts, for tests: `affinity` CPUs in the mask; `proc_self_cgroup` the text of
// /proc/self/cgroup; `cgroup_root` where the cgroup file systems are mounted (/sys/fs/cgroup).
int usable_cpus_from(int affinity, const std::string& proc_self_cgroup, const std::string& cgroup_root);

}  // namespace featjnd
