#include "worker/stage_runner.h"

#include <chrono>
#include <filesystem>

#include <fmt/format.h>
#include <torch/torch.h>

#include "inspect/inspect_stage.h"
#include "plugin_host/plugin_registry.h"
#include "store/store.h"
#include "worker/execution.h"

namespace fs = std::filesystem;

namespace featjnd {

std::pair<torch::Tensor, torch::Tensor> distortion_strength(const Features& clean,
                                                            const Features& distorted, double eps) {
  TORCH_CHECK(clean.levels.size() == distorted.levels.size(),
              "a distortion changed the number of feature levels");
  std::vector<torch::Tensor> nrmse, cosine;
  for (size_t l = 0; l < clean.levels.size(); ++l) {
    auto f = clean.levels[l].flatten(1).to(torch::kFloat64);
    auto g = distorted.levels[l].flatten(1).to(torch::kFloat64);
    TORCH_CHECK(f.sizes() == g.sizes(), "a distortion changed the shape of feature level ", l);
    nrmse.push_back((g - f).norm(2, {1}) / (f.norm(2, {1}) + eps));
    cosine.push_back(torch::nn::functional::cosine_similarity(
        f, g, torch::nn::functional::CosineSimilarityFuncOptions().dim(1).eps(1e-12)));
  }
  return {torch::stack(nrmse).mean(0), torch::stack(cosine).mean(0)};
}

namespace {

using Clock = std::chrono::steady_clock;

class WorkerContext : public RunContext {
 public:
  WorkerContext(Store& store, const RunRequest& req, torch::Device device, const RunEvents& events)
      : store_(store), req_(req), device_(device), events_(events) {
    dir_ = fs::path(store.artifact_root()) / req.hash.substr(0, 16);
    // An interrupted earlier attempt may have left files behind; none of them was registered.
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  torch::Device device() const override { return device_; }
  uint64_t seed() const override { return req_.config.at("seed").get<uint64_t>(); }

  void log_metric(const std::string& key, double value, int64_t step) override {
    rows_.push_back({req_.run_id, key, value, step, now_seconds()});
    if (rows_.size() >= 4096) flush();
    last_key_ = key;
    last_value_ = value;
    auto now = Clock::now();
    if (now - last_metric_sent_ > std::chrono::milliseconds(500)) {
      events_.metric(key, value);
      last_metric_sent_ = now;
    }
  }

  void progress(int64_t done, int64_t total, const std::string& note) override {
    auto now = Clock::now();
    if (done < total && now - last_progress_ < std::chrono::milliseconds(200)) return;
    last_progress_ = now;
    events_.progress(done, total, note);
    if (now - last_heartbeat_ > std::chrono::seconds(5)) {
      store_.heartbeat(req_.run_id);
      last_heartbeat_ = now;
    }
  }

  std::string artifact_path(const std::string& name) override {
    fs::create_directories(dir_);
    auto p = (dir_ / name).string();
    paths_[name] = p;
    return p;
  }

  void add_artifact(const std::string& name, const std::string& kind) override {
    auto it = paths_.find(name);
    if (it == paths_.end())
      throw std::runtime_error(fmt::format("artifact '{}' was never given a path", name));
    store_.add_artifact(req_.run_id, name, kind, it->second);
    added_.push_back({name, kind, it->second});
  }

  struct Added {
    std::string name, kind, path;
  };
  const std::vector<Added>& added() const { return added_; }

  // An artifact another run wrote, kept by this one as well (a copy: each run's folder stands alone).
  void copy_artifact(const Added& a) {
    const auto path = artifact_path(a.name);
    fs::copy_file(a.path, path + ".partial", fs::copy_options::overwrite_existing);
    fs::rename(path + ".partial", path);
    add_artifact(a.name, a.kind);
  }

  std::string input_artifact(const std::string& name) const override {
    for (int64_t anc : req_.ancestors) {
      auto arts = store_.artifacts_of(anc);
      if (auto it = arts.find(name); it != arts.end()) return it->second;
    }
    throw std::runtime_error(fmt::format("no upstream run produced an artifact named '{}'", name));
  }

  bool has_input_artifact(const std::string& name) const override {
    for (int64_t anc : req_.ancestors)
      if (store_.artifacts_of(anc).count(name)) return true;
    return false;
  }

  void flush() {
    store_.insert_metrics(rows_);
    rows_.clear();
  }
  void finish() {
    if (!last_key_.empty()) events_.metric(last_key_, last_value_);
    store_.finish(req_.run_id, rows_);
    rows_.clear();
  }

 private:
  Store& store_;
  const RunRequest& req_;
  torch::Device device_;
  const RunEvents& events_;
  fs::path dir_;
  std::map<std::string, std::string> paths_;
  std::vector<Added> added_;
  std::vector<MetricRow> rows_;
  std::string last_key_;
  double last_value_ = 0;
  Clock::time_point last_progress_{}, last_metric_sent_{}, last_heartbeat_ = Clock::now();
};

void freeze(torch::nn::Module& m) {
  m.eval();
  for (auto& p : m.parameters()) p.set_requires_grad(false);
}

// The input pixels of a batch: each image's own size when the batch is padded (COCO).
double input_pixels(const Batch& b) {
  if (auto it = b.targets.find("image_sizes"); it != b.targets.end()) {
    auto s = it->second.to(torch::kCPU, torch::kDouble);
    return (s.select(1, 0) * s.select(1, 1)).sum().item<double>();
  }
  return double(b.size()) * double(b.images.size(2)) * double(b.images.size(3));
}

int64_t feature_cache_budget_bytes() {
  if (const char* env = std::getenv("FEATJND_FEATURE_CACHE_MB")) return std::atoll(env) << 20;
  return int64_t(4096) << 20;
}

}  // namespace

struct StageRunner::Impl {
  const PluginRegistry& plugins;
  Store& store;
  torch::Device device;
  ExecutionOptions exec;  // of the run in progress

  // The most recent task network (prepared weights, backbone and task settings) with its clean
  // evaluation pass.
  struct Network {
    std::string key;
    std::unique_ptr<Component> backbone_holder, task_holder;
    Backbone* backbone = nullptr;
    Task* task = nullptr;
    bool clean_done = false;
    bool cached = false;  // features kept in memory
    std::vector<Features> features;
    std::vector<Batch> batches;
    std::map<std::string, double> clean_metrics;
    // What the task recorded about the evaluation split when it opened it (its preprocess.json):
    // a run that replays the kept features records it too.
    std::vector<WorkerContext::Added> data_artifacts;
  };
  std::unique_ptr<Network> net;

  Impl(const PluginRegistry& p, Store& s, std::string dev) : plugins(p), store(s), device(dev) {}

  std::unique_ptr<Component> make(const nlohmann::json& config, const std::string& role) {
    const auto& cname = config.at("roles").at(role).get<std::string>();
    const auto& c = config.at("components").at(cname);
    const auto* rec = plugins.find(c.at("kind").get<std::string>(), c.at("plugin").get<std::string>());
    if (!rec)
      throw std::runtime_error(fmt::format("plugin '{}' is not loaded in this worker", c.at("plugin").get<std::string>()));
    return plugins.create(*rec, c.at("params"));
  }

  template <class T>
  static T* as(Component* c, const char* what) {
    auto* t = dynamic_cast<T*>(c);
    if (!t) throw std::runtime_error(fmt::format("the {} component does not implement the {} interface", what, what));
    return t;
  }

  std::unique_ptr<Network> build(const nlohmann::json& config, RunContext& ctx) {
    auto n = std::make_unique<Network>();
    n->backbone_holder = make(config, "backbone");
    n->task_holder = make(config, "task");
    n->backbone = as<Backbone>(n->backbone_holder.get(), "backbone");
    n->task = as<Task>(n->task_holder.get(), "task");
    n->backbone->module().to(device);
    n->task->attach(*n->backbone, ctx);
    n->task->head_module().to(device);
    layout(*n);
    return n;
  }

  // channels_last when the spec asks for it (after every load: a loaded tensor is contiguous).
  void layout(Network& n) {
    if (!exec.channels_last) return;
    to_channels_last(n.backbone->module());
    to_channels_last(n.task->head_module());
  }

  // The batch on the device, images in the layout the spec asks for.
  Batch on_device(const Batch& b) {
    Batch d = batch_to(b, device);
    if (exec.channels_last && d.images.defined() && d.images.dim() == 4)
      d.images = d.images.contiguous(torch::MemoryFormat::ChannelsLast);
    return d;
  }

  Network& network(const RunRequest& req, RunContext& ctx) {
    const auto& key = req.network_key;
    if (net && net->key == key && !key.empty()) return *net;
    net.reset();
    auto n = build(req.config, ctx);
    torch::serialize::InputArchive archive, b, h;
    archive.load_from(ctx.input_artifact("task-network"), device);
    archive.read("backbone", b);
    archive.read("head", h);
    n->backbone->module().load(b);
    n->task->head_module().load(h);
    layout(*n);
    freeze(n->backbone->module());
    freeze(n->task->head_module());
    n->key = key;
    net = std::move(n);
    return *net;
  }

  void prepare(const RunRequest& req, WorkerContext& ctx) {
    torch::manual_seed(ctx.seed());
    auto n = build(req.config, ctx);
    n->task->prepare(*n->backbone, ctx);
    torch::serialize::OutputArchive archive, b, h;
    n->backbone->module().save(b);
    n->task->head_module().save(h);
    archive.write("backbone", b);
    archive.write("head", h);
    auto path = ctx.artifact_path("task-network");
    archive.save_to(path + ".partial");
    fs::rename(path + ".partial", path);
    ctx.add_artifact("task-network", "checkpoint");
  }

  void fit(const RunRequest& req, WorkerContext& ctx) {
    auto& n = network(req, ctx);
    auto dist_holder = make(req.config, "distortion");
    auto* dist = as<Distortion>(dist_holder.get(), "distortion");
    if (!dist->trainable())
      throw std::runtime_error("a fit stage needs a trainable distortion; this one has nothing to fit");
    torch::manual_seed(ctx.seed());
    dist->fit(*n.backbone, *n.task, ctx);
  }

  // One pass over the evaluation split with the frozen network: features, batches and clean
  // metrics. The features (on the device) and the batches (on the host, pinned for a CUDA device)
  // are kept while both together fit the budget, and replayed to later evaluations.
  void clean_pass(Network& n, WorkerContext& ctx,
                  const std::function<void(size_t, const Features&, const Batch&)>& visit) {
    if (n.clean_done && n.cached) {
      for (const auto& a : n.data_artifacts) ctx.copy_artifact(a);
      for (size_t i = 0; i < n.features.size(); ++i) visit(i, n.features[i], on_device(n.batches[i]));
      return;
    }
    torch::NoGradGuard no_grad;
    const size_t recorded = ctx.added().size();
    auto data = n.task->data(Split::eval, ctx);
    n.data_artifacts.assign(ctx.added().begin() + static_cast<std::ptrdiff_t>(recorded), ctx.added().end());
    data->reset(0);
    auto evaluator = n.task->evaluator();
    evaluator->reset();
    const bool first = !n.clean_done;
    int64_t budget = feature_cache_budget_bytes(), used = 0;
    bool keep = first;
    size_t i = 0;
    while (auto batch = data->next()) {
      Batch b = on_device(*batch);
      auto f = float32(n.backbone->features(b, device));
      if (first) evaluator->digest(float32(n.task->head(f)), b);
      if (keep) {
        used += features_bytes(f) + batch_bytes(*batch);
        if (used > budget) {
          keep = false;
          n.features.clear();
          n.batches.clear();
        } else {
          n.features.push_back(f);
          n.batches.push_back(host_copy(*batch, device));
        }
      }
      visit(i++, f, b);
    }
    if (first) {
      n.clean_metrics = evaluator->results();
      n.clean_done = true;
      n.cached = keep;
    }
  }

  // Tolerance and attribution maps of a few evaluation images (engine/inspect).
  void inspect(const RunRequest& req, WorkerContext& ctx) {
    auto& n = network(req, ctx);
    auto dist_holder = make(req.config, "distortion");
    auto* dist = as<Distortion>(dist_holder.get(), "distortion");
    torch::manual_seed(ctx.seed());
    dist->begin_evaluation(*n.backbone, *n.task, ctx);
    inspect::run_inspection(*n.backbone, *n.task, *dist, ctx, req.config.at("stage_params"));
  }

  void evaluate(const RunRequest& req, WorkerContext& ctx) {
    auto& n = network(req, ctx);
    std::unique_ptr<Component> dist_holder;
    Distortion* dist = nullptr;
    if (req.config.at("roles").contains("distortion")) {
      dist_holder = make(req.config, "distortion");
      dist = as<Distortion>(dist_holder.get(), "distortion");
      torch::manual_seed(ctx.seed());
      dist->begin_evaluation(*n.backbone, *n.task, ctx);
    }
    torch::NoGradGuard no_grad;
    torch::manual_seed(ctx.seed());
    auto evaluator = n.task->evaluator();
    evaluator->reset();
    // NRMSE and cosine sums stay on the device until the pass ends: no synchronisation per batch.
    torch::Tensor nrmse_sum, cos_sum;
    int64_t samples = 0;
    int64_t total_batches = n.cached ? static_cast<int64_t>(n.features.size()) : -1;
    clean_pass(n, ctx, [&](size_t i, const Features& f, const Batch& batch) {
      Features g = dist ? dist->apply(f, ApplyInfo{static_cast<int64_t>(i), ctx.seed(), input_pixels(batch)}) : f;
      evaluator->digest(float32(n.task->head(g)), batch);
      auto [nr, cs] = distortion_strength(f, g);
      nrmse_sum = nrmse_sum.defined() ? nrmse_sum + nr.sum() : nr.sum();
      cos_sum = cos_sum.defined() ? cos_sum + cs.sum() : cs.sum();
      samples += f.batch_size();
      ctx.progress(static_cast<int64_t>(i) + 1, total_batches, "evaluating");
    });
    if (samples == 0) throw std::runtime_error("the evaluation split is empty");
    ctx.log_metric("samples", static_cast<double>(samples), 0);
    ctx.log_metric("cosine", cos_sum.item<double>() / static_cast<double>(samples), 0);
    ctx.log_metric("nrmse", nrmse_sum.item<double>() / static_cast<double>(samples), 0);
    if (dist)
      for (auto& [k, v] : dist->evaluation_metrics()) ctx.log_metric(k, v, 0);
    for (auto& [k, v] : n.clean_metrics) ctx.log_metric("clean." + k, v, 0);
    // The task's own metrics last: the progress display shows the last one.
    for (auto& [k, v] : evaluator->results()) ctx.log_metric(k, v, 0);
  }
};

StageRunner::StageRunner(const PluginRegistry& plugins, Store& store, std::string device)
    : impl_(std::make_unique<Impl>(plugins, store, std::move(device))) {}
StageRunner::~StageRunner() = default;

void StageRunner::run(const RunRequest& req, const RunEvents& events) {
  WorkerContext ctx(impl_->store, req, impl_->device, events);
  const auto type = req.config.at("type").get<std::string>();
  impl_->exec = ExecutionOptions::from_config(req.config);
  AutocastGuard autocast(impl_->device, impl_->exec.autocast_bf16);
  if (type == "prepare")
    impl_->prepare(req, ctx);
  else if (type == "fit")
    impl_->fit(req, ctx);
  else if (type == "evaluate")
    impl_->evaluate(req, ctx);
  else if (type == "inspect")
    impl_->inspect(req, ctx);
  else
    throw std::runtime_error("unknown stage type '" + type + "'");
  ctx.finish();
}

}  // namespace featjnd
