// Test plugins record each execution of a run (a prepare, a fit, an evaluation) as one line in the
// file $FEATJND_TEST_EXECUTIONS, when it is set: the cluster tests count them to show that every
// run executes once. A line names what the run computes from — the network (a checksum of the
// backbone's and head's weights) and the plugin's parameters — so the same run executed twice
// anywhere (in two shards, on two machines) gives the same line twice. One write(2) to a file
// opened O_APPEND per line: lines of concurrent workers do not interleave.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace toy {

inline double checksum(torch::nn::Module& m) {
  torch::NoGradGuard g;
  double s = 0;
  for (auto& p : m.parameters()) s += p.to(torch::kDouble).sum().item<double>();
  return s;
}

inline void log_execution(const std::string& what, torch::nn::Module& backbone, torch::nn::Module& head,
                          const nlohmann::json& params) {
  const char* path = std::getenv("FEATJND_TEST_EXECUTIONS");
  if (!path || !*path) return;
  char net[64];
  std::snprintf(net, sizeof net, "%.9g", checksum(backbone) + checksum(head));
  const std::string line = what + " network=" + net + " params=" + params.dump() + "\n";
  const int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) return;
  (void)!write(fd, line.data(), line.size());
  close(fd);
}

}  // namespace toy
