#pragma once
#include <string>
#include <vector>

namespace featjnd {

struct WorkerOptions {
  std::string device;  // cpu, cpu:N (a CPU worker among several) or cuda:N
  std::string database;
  int threads = 0;     // intra-op threads; 0: all cores for a CPU worker, 4 for a GPU worker
  std::vector<std::string> plugin_files;
  int message_fd = 1;  // where events go (a pipe to the scheduler)
};

// A worker process executes runs one after another on one device. It reads one JSON line per
// run from stdin and answers with JSON event lines; it keeps the last task network and its clean
// evaluation features in memory so that a sweep costs one backbone pass plus one head pass per
// point. Returns the process exit code.
int worker_main(const WorkerOptions& options);

// CUDA devices LibTorch sees (0 for a CPU build).
int cuda_device_count();

}  // namespace featjnd
