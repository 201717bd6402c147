#include "worker/worker.h"

#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/cpu.h"
#include "plugin_host/plugin_registry.h"
#include "store/store.h"
#include "worker/stage_runner.h"

namespace featjnd {
namespace {

void send(int fd, const nlohmann::json& msg) {
  std::string line = msg.dump() + "\n";
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      _exit(3);  // the scheduler is gone
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

std::string one_line(std::string s) {
  for (auto& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  if (s.size() > 2000) s = s.substr(0, 2000) + "...";
  return s;
}

}  // namespace

int cuda_device_count() { return static_cast<int>(torch::cuda::device_count()); }

int worker_main(const WorkerOptions& opt) {
  PluginRegistry plugins;
  for (auto& f : opt.plugin_files) plugins.load_file(f);
  if (!plugins.errors().empty()) {
    send(opt.message_fd, {{"event", "fatal"}, {"error", plugins.errors().front()}});
    return 2;
  }
  // "cpu:N" names one of several CPU workers; to LibTorch every one of them is the CPU.
  const std::string torch_device = opt.device.rfind("cpu", 0) == 0 ? "cpu" : opt.device;
  torch::Device device(torch_device);
  if (device.is_cuda() && device.index() >= static_cast<int>(torch::cuda::device_count())) {
    send(opt.message_fd, {{"event", "fatal"},
                          {"error", fmt::format("device {} is not available ({} CUDA devices)", opt.device,
                                                torch::cuda::device_count())}});
    return 2;
  }
  // LibTorch may start with one intra-op thread; a CPU worker owns its share of the CPUs this
  // process may use (affinity and cgroup quota: core/cpu.h; the scheduler says how many when
  // several workers share them), a GPU worker needs only a few to feed its device.
  // OMP_NUM_THREADS, when set, wins.
  if (!std::getenv("OMP_NUM_THREADS")) {
    const int cores = usable_cpus();
    torch::set_num_threads(opt.threads > 0 ? opt.threads : device.is_cpu() ? cores : std::min(cores, 4));
  }
  std::fprintf(stderr, "featjnd-engine worker %d on %s: %d intra-op threads\n", static_cast<int>(getpid()),
               opt.device.c_str(), static_cast<int>(torch::get_num_threads()));
  Store store(opt.database, Store::Open::existing);
  StageRunner runner(plugins, store, torch_device);
  send(opt.message_fd, {{"event", "ready"}, {"pid", static_cast<int64_t>(getpid())}});

  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    auto msg = nlohmann::json::parse(line);
    RunRequest req;
    req.run_id = msg.at("run_id").get<int64_t>();
    req.hash = msg.at("hash").get<std::string>();
    req.config = msg.at("config");
    req.network_key = msg.value("network_key", std::string());
    req.ancestors = msg.at("ancestors").get<std::vector<int64_t>>();
    RunEvents events;
    events.progress = [&](int64_t done, int64_t total, const std::string& note) {
      send(opt.message_fd,
           {{"event", "progress"}, {"run", req.run_id}, {"done", done}, {"total", total}, {"note", note}});
    };
    events.metric = [&](const std::string& key, double value) {
      send(opt.message_fd, {{"event", "metric"}, {"run", req.run_id}, {"key", key}, {"value", value}});
    };
    try {
      runner.run(req, events);
      send(opt.message_fd, {{"event", "finished"}, {"run", req.run_id}});
    } catch (const c10::Error& e) {
      send(opt.message_fd, {{"event", "failed"}, {"run", req.run_id}, {"error", one_line(e.what_without_backtrace())}});
    } catch (const std::exception& e) {
      send(opt.message_fd, {{"event", "failed"}, {"run", req.run_id}, {"error", one_line(e.what())}});
    }
  }
  return 0;
}

}  // namespace featjnd
