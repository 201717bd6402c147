#include "scheduler/scheduler.h"

#include <algorithm>
#include <csignal>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/cpu.h"
#include "core/errors.h"
#include "plugin_host/plugin_registry.h"
#include "scheduler/progress.h"
#include "spec/plan.h"
#include "store/store.h"

namespace fs = std::filesystem;

namespace featjnd {
namespace {

int g_signal_pipe[2] = {-1, -1};
volatile sig_atomic_t g_stop_signal = 0;

void on_stop_signal(int sig) {
  g_stop_signal = sig;
  char c = 1;
  [[maybe_unused]] auto n = ::write(g_signal_pipe[1], &c, 1);
}

struct Worker {
  std::string device;
  pid_t pid = -1;
  int to_worker = -1, from_worker = -1;
  std::string buffer;
  bool ready = false;
  bool dead = false;
  std::optional<size_t> current;  // plan index
  std::string network_key;  // of the last run: runs with the same key reuse its loaded network
  std::optional<size_t> root;  // the last run's prepare run
  std::chrono::steady_clock::time_point started;
  std::string log_path;
  int deaths_in_a_row = 0;  // worker processes that died during a run, since its last finished run
};

std::string tail_of(const std::string& path, size_t lines) {
  std::ifstream in(path);
  std::deque<std::string> last;
  std::string l;
  while (std::getline(in, l)) {
    if (l.empty()) continue;
    last.push_back(l);
    if (last.size() > lines) last.pop_front();
  }
  std::string out;
  for (auto& s : last) out += (out.empty() ? "" : " | ") + s;
  return out;
}

std::string describe_exit(int status) {
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    return fmt::format("worker killed by signal {} ({})", sig, strsignal(sig));
  }
  return fmt::format("worker exited with status {}", WEXITSTATUS(status));
}

class Scheduler {
 public:
  Scheduler(const Plan& plan, const std::vector<size_t>& selected, Store& store, int64_t experiment_id,
            int64_t invocation_id, const SchedulerOptions& opt)
      : plan_(plan), selected_(selected), store_(store), experiment_(experiment_id),
        invocation_(invocation_id), opt_(opt), display_(0, opt.interactive) {}

  SchedulerResult run() {
    register_runs();
    result_.total = static_cast<int64_t>(selected_.size());
    display_ = ProgressDisplay(result_.total - result_.skipped, opt_.interactive);
    display_.set_devices(opt_.devices);
    std::map<std::string, int64_t> per_type;
    for (size_t i : pending_) per_type[plan_.runs[i].type]++;
    display_.set_pending(per_type);
    if (result_.skipped)
      display_.message(fmt::format("{} of {} runs already finished (same content hash): skipped",
                                   result_.skipped, result_.total));
    if (pending_.empty()) return result_;

    if (pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) throw std::runtime_error("pipe failed");
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    struct sigaction old_int {}, old_term {}, old_pipe {};
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, &old_pipe);

    fs::create_directories(fs::path(store_.artifact_root()) / "logs");
    for (auto& d : opt_.devices) {
      Worker w;
      w.device = d;
      workers_.push_back(w);
    }

    try {
      loop();
    } catch (...) {
      for (auto& w : workers_) {
        if (w.current) end_run(w, "killed", "the engine stopped: another engine took one of its runs");
        stop_worker(w, true);
      }
      display_.finish();
      throw;
    }

    for (auto& w : workers_) stop_worker(w, false);
    display_.finish();
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
    sigaction(SIGPIPE, &old_pipe, nullptr);
    close(g_signal_pipe[0]);
    close(g_signal_pipe[1]);
    return result_;
  }

 private:
  enum class State { pending, running, finished, failed };

  void register_runs() {
    run_id_.assign(plan_.runs.size(), 0);
    state_.assign(plan_.runs.size(), State::pending);
    std::vector<bool> in_shard(plan_.runs.size(), false);
    for (size_t i : selected_) in_shard[i] = true;
    for (size_t i : selected_) {
      const auto& r = plan_.runs[i];
      std::vector<int64_t> deps;
      for (size_t d : r.deps) {
        if (!in_shard[d]) upstream_from_database(d);  // another shard's (or phase's) run
        deps.push_back(run_id_[d]);
      }
      auto st = store_.add_run(experiment_, r, deps);
      run_id_[i] = st.id;
      if (st.status == "finished") {
        state_[i] = State::finished;
        ++result_.skipped;
        continue;
      }
      if (st.status == "running" && store_.owner_alive(st.id)) throw taken(i);
      // Whatever an interrupted, failed or killed attempt left is removed before the redo, unless
      // another engine took the run since it was read.
      if (st.status != "queued" && !store_.requeue(st.id, st)) throw taken(i);
      pending_.push_back(i);
    }
  }

  // An upstream run this invocation does not execute must be finished in the database (run_cmd
  // checks it first, with a message for the user; this is the scheduler's own guard).
  void upstream_from_database(size_t d) {
    if (run_id_[d] != 0) return;
    auto st = store_.find_run(plan_.runs[d].hash);
    if (!st || st->status != "finished")
      throw UserError(fmt::format("upstream run {} {} is not finished in this database", plan_.runs[d].stage,
                                  plan_.runs[d].label));
    run_id_[d] = st->id;
    state_[d] = State::finished;
    for (size_t up : plan_.runs[d].deps) upstream_from_database(up);  // ancestors() walks the chain
  }

  UserError taken(size_t i) const {
    const auto& r = plan_.runs[i];
    return UserError(fmt::format("run #{} ({} {}) is being executed by another featjnd-engine process; wait for it "
                                 "or stop it first",
                                 run_id_[i], r.stage, r.label));
  }

  std::vector<int64_t> ancestors(size_t i) const {
    std::vector<int64_t> out;
    for (auto* r = &plan_.runs[i]; !r->deps.empty(); r = &plan_.runs[r->deps.front()])
      out.push_back(run_id_[r->deps.front()]);
    return out;
  }

  std::string label(size_t i) const {
    const auto& r = plan_.runs[i];
    return r.label.empty() ? r.stage : r.stage + " " + r.label;
  }

  void spawn(Worker& w) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    std::string safe_dev = w.device;
    std::replace(safe_dev.begin(), safe_dev.end(), ':', '-');
    w.log_path = (fs::path(store_.artifact_root()) / "logs" / ("worker-" + safe_dev + ".log")).string();
    std::vector<std::string> args = {executable_dir() + "/featjnd-engine", "worker", "--device", w.device,
                                     "--db", opt_.database};
    // The worker binary is this very executable.
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
      self[n] = 0;
      args[0] = self;
    }
    for (auto& f : opt_.plugin_files) {
      args.push_back("--plugin-file");
      args.push_back(f);
    }
    if (int t = threads_for(w.device); t > 0) {
      args.push_back("--threads");
      args.push_back(std::to_string(t));
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      // The worker dies with the engine (kill -9 included) and leaves Ctrl-C to the engine.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);
      signal(SIGINT, SIG_IGN);
      signal(SIGPIPE, SIG_DFL);
      dup2(in[0], 0);
      dup2(out[1], 3);
      int log = open(w.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (log >= 0) {
        dup2(log, 1);
        dup2(log, 2);
      }
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    w.pid = pid;
    w.to_worker = in[1];
    w.from_worker = out[0];
    w.buffer.clear();
    w.ready = false;
    w.dead = false;
  }

  // Several CPU workers share the cores evenly; one CPU worker (or a GPU worker) decides itself.
  int threads_for(const std::string& device) const {
    if (device.rfind("cpu", 0) != 0) return 0;
    auto cpu_workers = std::count_if(opt_.devices.begin(), opt_.devices.end(),
                                     [](const std::string& d) { return d.rfind("cpu", 0) == 0; });
    if (cpu_workers < 2) return 0;
    return std::max(1, usable_cpus() / static_cast<int>(cpu_workers));
  }

  void stop_worker(Worker& w, bool hard) {
    if (w.pid <= 0) return;
    if (w.to_worker >= 0) close(w.to_worker);
    w.to_worker = -1;
    if (hard) kill(w.pid, SIGKILL);
    int status = 0;
    // Closing stdin ends an idle worker; give a busy one a moment, then stop it.
    for (int i = 0; i < 50; ++i) {
      if (waitpid(w.pid, &status, WNOHANG) == w.pid) {
        w.pid = -1;
        break;
      }
      usleep(20000);
    }
    if (w.pid > 0) {
      kill(w.pid, SIGKILL);
      waitpid(w.pid, &status, 0);
      w.pid = -1;
    }
    if (w.from_worker >= 0) close(w.from_worker);
    w.from_worker = -1;
  }

  bool deps_finished(size_t i, bool& dep_failed) const {
    dep_failed = false;
    for (size_t d : plan_.runs[i].deps) {
      if (state_[d] == State::failed) dep_failed = true;
      if (state_[d] != State::finished) return false;
    }
    return true;
  }

  // Fails runs whose upstream failed; returns the next run for `w`, preferring one that can reuse
  // the network the worker has loaded.
  std::optional<size_t> next_for(const Worker& w) {
    bool changed = true;
    while (changed) {
      changed = false;
      for (auto it = pending_.begin(); it != pending_.end(); ++it) {
        bool failed = false;
        deps_finished(*it, failed);
        if (failed) {
          size_t i = *it;
          pending_.erase(it);
          state_[i] = State::failed;
          store_.mark(run_id_[i], "failed", "not run: an upstream run failed");
          ++result_.failed;
          display_.run_ended("failed", plan_.runs[i].type, label(i), "-", 0, "upstream run failed");
          changed = true;
          break;
        }
      }
    }
    // The worker's loaded network first, then another run of the same prepared network, then a
    // network no other worker holds; an idle worker takes the rest rather than wait.
    std::optional<size_t> same_root, unclaimed, any;
    for (size_t i : pending_) {
      bool failed = false;
      if (!deps_finished(i, failed)) continue;
      const auto& r = plan_.runs[i];
      if (r.network_key == w.network_key) return i;
      if (!same_root && w.root && r.root == *w.root) same_root = i;
      if (!unclaimed && !held_by_other(w, r)) unclaimed = i;
      if (!any) any = i;
    }
    return same_root ? same_root : unclaimed ? unclaimed : any;
  }

  bool held_by_other(const Worker& self, const PlannedRun& r) const {
    for (const auto& o : workers_)
      if (&o != &self && !o.dead && o.pid > 0 && (o.network_key == r.network_key || (o.root && *o.root == r.root)))
        return true;
    return false;
  }

  void dispatch(Worker& w, size_t i) {
    pending_.erase(std::find(pending_.begin(), pending_.end(), i));
    if (!store_.claim(run_id_[i], invocation_, w.device)) throw taken(i);
    store_.set_worker_pid(run_id_[i], w.pid);
    state_[i] = State::running;
    w.current = i;
    w.started = std::chrono::steady_clock::now();
    w.network_key = plan_.runs[i].network_key;
    w.root = plan_.runs[i].root;
    nlohmann::json msg = {{"run_id", run_id_[i]},
                          {"hash", plan_.runs[i].hash},
                          {"network_key", w.network_key},
                          {"config", plan_.runs[i].config},
                          {"ancestors", ancestors(i)}};
    std::string line = msg.dump() + "\n";
    if (::write(w.to_worker, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
      return;  // the worker died; its EOF is handled by the loop
    auto& dl = display_.device(w.device);
    dl.run = label(i);
    dl.done = dl.total = 0;
    display_.redraw(true);
  }

  void end_run(Worker& w, const std::string& status, const std::string& error,
               std::optional<int> exit_status = std::nullopt, std::optional<int> sig = std::nullopt) {
    if (!w.current) return;
    size_t i = *w.current;
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - w.started).count();
    auto& dl = display_.device(w.device);
    if (status == "finished") {
      state_[i] = State::finished;
      ++result_.finished;
      display_.run_ended("finished", plan_.runs[i].type, label(i), w.device, secs, dl.last_metric);
    } else {
      store_.mark(run_id_[i], status, error, exit_status, sig);
      state_[i] = State::failed;
      if (status == "killed")
        ++result_.killed;
      else
        ++result_.failed;
      display_.run_ended(status, plan_.runs[i].type, label(i), w.device, secs, error);
    }
    dl.run.clear();
    dl.done = dl.total = 0;
    w.current.reset();
  }

  void handle_message(Worker& w, const nlohmann::json& m) {
    auto ev = m.value("event", std::string());
    auto& dl = display_.device(w.device);
    if (ev == "ready") {
      w.ready = true;
    } else if (ev == "fatal") {
      display_.message(fmt::format("{}: worker cannot start: {}", w.device, m.value("error", std::string())));
      w.dead = true;
      dead_error_ = m.value("error", std::string());
    } else if (ev == "progress") {
      dl.done = m.value("done", int64_t(0));
      dl.total = m.value("total", int64_t(0));
      display_.redraw();
    } else if (ev == "metric") {
      dl.last_metric = fmt::format("{}={:.4g}", m.value("key", std::string()), m.value("value", 0.0));
      display_.redraw();
    } else if (ev == "finished") {
      w.deaths_in_a_row = 0;
      end_run(w, "finished", {});
    } else if (ev == "failed") {
      end_run(w, "failed", m.value("error", std::string("unknown error")));
    }
  }

  void reap(Worker& w) {
    int status = 0;
    if (w.pid > 0) waitpid(w.pid, &status, 0);
    w.pid = -1;
    if (w.to_worker >= 0) close(w.to_worker);
    if (w.from_worker >= 0) close(w.from_worker);
    w.to_worker = w.from_worker = -1;
    if (w.current) {
      std::string why = describe_exit(status);
      auto tail = tail_of(w.log_path, 3);
      end_run(w, "failed", tail.empty() ? why : why + ": " + tail,
              WIFEXITED(status) ? std::optional<int>(WEXITSTATUS(status)) : std::nullopt,
              WIFSIGNALED(status) ? std::optional<int>(WTERMSIG(status)) : std::nullopt);
      retire_if_faulty(w);
    } else if (!w.ready && !w.dead) {
      w.dead = true;
      dead_error_ = describe_exit(status) + " before it was ready: " + tail_of(w.log_path, 3);
      display_.message(fmt::format("{}: {}", w.device, dead_error_));
    }
  }

  // A device whose workers die twice in a row (a GPU fault, memory exhausted) is given up while
  // other devices remain: the queue moves to them. A lone device keeps restarting its worker, so
  // that one bad run does not fail the whole sweep.
  void retire_if_faulty(Worker& w) {
    if (++w.deaths_in_a_row < 2) return;
    bool others = std::any_of(workers_.begin(), workers_.end(), [&](const Worker& o) { return &o != &w && !o.dead; });
    if (!others) return;
    w.dead = true;
    display_.message(fmt::format("{}: its worker died during {} runs in a row; the remaining runs go to the other "
                                 "devices (log: {})",
                                 w.device, w.deaths_in_a_row, w.log_path));
  }

  void interrupt() {
    result_.interrupted = true;
    for (auto& w : workers_) {
      if (w.pid > 0) kill(w.pid, SIGKILL);
      if (w.current) end_run(w, "killed", fmt::format("interrupted by signal {}", int(g_stop_signal)));
      stop_worker(w, true);
    }
  }

  bool any_pending_ready() {
    bool unused = false;
    for (size_t i : pending_)
      if (deps_finished(i, unused)) return true;
    return false;
  }

  // Gives each idle worker its next run, starting workers that are needed. Says whether anything
  // runs or is starting, and whether every worker is dead.
  struct Activity {
    bool any_running = false, all_dead = true;
  };
  Activity start_work() {
    Activity a;
    for (auto& w : workers_) {
      if (!w.dead) a.all_dead = false;
      if (w.current) {
        a.any_running = true;
        continue;
      }
      if (w.dead) continue;
      if (w.pid < 0) {
        if (!any_pending_ready()) continue;
        spawn(w);
      }
      if (!w.ready) {
        a.any_running = true;
        continue;
      }
      if (auto next = next_for(w)) {
        dispatch(w, *next);
        a.any_running = true;
      }
    }
    return a;
  }

  void fail_pending(const std::string& why) {
    for (size_t i : pending_) {
      state_[i] = State::failed;
      store_.mark(run_id_[i], "failed", why);
      ++result_.failed;
    }
    pending_.clear();
  }

  // Reads what a worker wrote and handles each complete line; EOF reaps it.
  void read_from(Worker& w) {
    char buf[65536];
    ssize_t n = ::read(w.from_worker, buf, sizeof(buf));
    if (n <= 0) {
      reap(w);
      return;
    }
    w.buffer.append(buf, static_cast<size_t>(n));
    size_t pos;
    while ((pos = w.buffer.find('\n')) != std::string::npos) {
      auto line = w.buffer.substr(0, pos);
      w.buffer.erase(0, pos + 1);
      auto m = nlohmann::json::parse(line, nullptr, false);
      if (!m.is_discarded()) handle_message(w, m);
    }
  }

  // Waits up to 200 ms for a worker's message or a signal, and handles what arrived.
  void wait_and_read() {
    std::vector<pollfd> fds;
    fds.push_back({g_signal_pipe[0], POLLIN, 0});
    std::vector<Worker*> owners;
    for (auto& w : workers_)
      if (w.from_worker >= 0) {
        fds.push_back({w.from_worker, POLLIN, 0});
        owners.push_back(&w);
      }
    int rc = poll(fds.data(), fds.size(), 200);
    if (rc < 0 && errno != EINTR) throw std::runtime_error("poll failed");
    display_.redraw();
    if (rc <= 0) return;
    if (fds[0].revents) {  // the signal handler's wake-up; the loop sees g_stop_signal
      char buf[16];
      while (::read(g_signal_pipe[0], buf, sizeof(buf)) > 0) {}
      return;
    }
    for (size_t k = 1; k < fds.size(); ++k)
      if (fds[k].revents) read_from(*owners[k - 1]);
  }

  void loop() {
    while (true) {
      if (g_stop_signal) {
        interrupt();
        return;
      }
      const Activity a = start_work();
      if (a.all_dead) {
        fail_pending("no device could run it: " + dead_error_);
        return;
      }
      if (!a.any_running) {
        // Nothing runs or starts: fail what waits on failed runs, and stop unless work is ready.
        next_for(workers_.front());
        if (!any_pending_ready()) return;
      }
      wait_and_read();
    }
  }

  const Plan& plan_;
  std::vector<size_t> selected_;
  Store& store_;
  int64_t experiment_, invocation_;
  SchedulerOptions opt_;
  ProgressDisplay display_;
  SchedulerResult result_;
  std::vector<int64_t> run_id_;
  std::vector<State> state_;
  std::vector<size_t> pending_;
  std::vector<Worker> workers_;
  std::string dead_error_;
};

}  // namespace

SchedulerResult run_plan(const Plan& plan, const std::vector<size_t>& selected, Store& store,
                         int64_t experiment_id, int64_t invocation_id, const SchedulerOptions& options) {
  Scheduler s(plan, selected, store, experiment_id, invocation_id, options);
  return s.run();
}

}  // namespace featjnd
