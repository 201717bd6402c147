// featjnd-bench-model: speed of the pieces a FeatJND experiment is made of, for one backbone,
// device and batch size (a benchmark that prints numbers, not a test).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <filesystem>
#include <map>
#include <thread>

#include <unistd.h>

#include <boost/program_options.hpp>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/cpu.h"
#include "featjnd/components.h"
#include "featjnd_plugins/estimator.h"
#include "plugin_host/plugin_registry.h"
#include "worker/stage_runner.h"

namespace featjnd {
namespace {

struct ModelBenchOptions {
  std::string backbone = "resnet", task = "classification";
  nlohmann::json backbone_params = nlohmann::json::object(), task_params = nlohmann::json::object();
  int64_t est_width = 256, est_blocks = 2;
  std::string device = "cpu";
  int64_t batch = 32, size = 224, channels = 3;
  int iters = 10, warmup = 2, sweep_points = 8, sweep_batches = 4;
  bool bf16 = false, channels_last = false;
  // --codec-image: one image of H x W through the backbone, its levels through the codec.
  bool codec_image = false;
  int64_t height = 800, width = 1216;
};

using Clock = std::chrono::steady_clock;

// The minimal context a component needs outside a run: no database, nothing recorded.
class BenchContext : public RunContext {
 public:
  explicit BenchContext(torch::Device d) : device_(d) {}
  torch::Device device() const override { return device_; }
  uint64_t seed() const override { return 0; }
  void log_metric(const std::string&, double, int64_t) override {}
  void progress(int64_t, int64_t, const std::string&) override {}
  // Artifacts live in a temporary folder and are this context's inputs as well (the codec bench
  // saves an estimator and has the quantizer load it).
  std::string artifact_path(const std::string& name) override {
    return paths_[name] = (std::filesystem::temp_directory_path() /
                           fmt::format("featjnd-bench-{}-{}", static_cast<long>(getpid()), name))
                              .string();
  }
  void add_artifact(const std::string&, const std::string&) override {}
  std::string input_artifact(const std::string& name) const override {
    if (auto it = paths_.find(name); it != paths_.end()) return it->second;
    throw std::runtime_error("bench: no artifact '" + name + "'");
  }
  bool has_input_artifact(const std::string& name) const override { return paths_.count(name) > 0; }
  ~BenchContext() override {
    for (auto& [name, path] : paths_) std::filesystem::remove(path);
  }

 private:
  torch::Device device_;
  std::map<std::string, std::string> paths_;
};

template <class T>
std::unique_ptr<T> make(const PluginRegistry& reg, const std::string& kind, const std::string& name,
                        const nlohmann::json& params) {
  const auto* rec = reg.find(kind, name);
  if (!rec) throw std::runtime_error(fmt::format("bench: no {} plugin '{}'", kind, name));
  auto c = reg.create(*rec, PluginRegistry::resolve_params(*rec, params));
  auto* t = dynamic_cast<T*>(c.get());
  if (!t) throw std::runtime_error(fmt::format("bench: '{}' is not a {}", name, kind));
  c.release();
  return std::unique_ptr<T>(t);
}

void sync(const torch::Device& d) {
  if (d.is_cuda()) torch::cuda::synchronize(d.index());
}

// Seconds per call: the minimum and the median over `iters` timed calls (each synchronised),
// after `warmup` untimed ones.
struct Timing {
  double min = 0, median = 0;
};

template <class F>
Timing time_calls(const torch::Device& d, int warmup, int iters, F&& f) {
  for (int i = 0; i < warmup; ++i) f();
  sync(d);
  std::vector<double> t;
  for (int i = 0; i < std::max(iters, 1); ++i) {
    auto t0 = Clock::now();
    f();
    sync(d);
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return {t.front(), t[t.size() / 2]};
}

template <class F>
double seconds_per_iter(const torch::Device& d, int warmup, int iters, F&& f) {
  return time_calls(d, warmup, iters, std::forward<F>(f)).median;
}

// Module::to(dtype) would also turn integer buffers (Swin's relative position index) into floats.
void cast_floating(torch::nn::Module& m, torch::Device device, torch::ScalarType dtype) {
  m.to(device);
  torch::NoGradGuard g;
  for (auto& p : m.parameters())
    if (p.is_floating_point()) p.set_data(p.to(dtype));
  for (auto& b : m.buffers())
    if (b.is_floating_point()) b.set_data(b.to(dtype));
}

void run_model_bench(const PluginRegistry& reg, const ModelBenchOptions& o) {
  torch::Device device(o.device);
  BenchContext ctx(device);
  auto backbone = make<Backbone>(reg, "backbone", o.backbone, o.backbone_params);
  auto task = make<Task>(reg, "task", o.task, o.task_params);
  backbone->module().to(device);
  task->attach(*backbone, ctx);
  auto dtype = o.bf16 ? torch::kBFloat16 : torch::kFloat32;
  for (auto* m : {&backbone->module(), &task->head_module()}) {
    cast_floating(*m, device, dtype);
    m->eval();
    for (auto& p : m->parameters()) p.set_requires_grad(false);
  }
  auto memory_format = o.channels_last ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
  auto images = torch::randn({o.batch, o.channels, o.size, o.size}, torch::TensorOptions().device(device).dtype(dtype))
                    .contiguous(memory_format);

  const Timing infer = time_calls(device, o.warmup, o.iters, [&] {
    torch::NoGradGuard g;
    task->head(backbone->forward(images));
  });

  // One FeatJND training step: frozen backbone and clean head without gradients, then the
  // estimator and the head on F + J with them, the loss of PAPER.md, Adam.
  Features f0;
  {
    torch::NoGradGuard g;
    f0 = backbone->forward(images);
  }
  plugins::EstimatorConfig ec;
  ec.channels = f0.levels[0].size(1);
  ec.width = o.est_width;
  ec.blocks = o.est_blocks;
  plugins::Estimator est(ec);
  cast_floating(*est, device, dtype);
  est->train();
  torch::optim::Adam opt(est->parameters(), torch::optim::AdamOptions(1e-4));
  const Timing step = time_calls(device, o.warmup, o.iters, [&] {
    Features f;
    TensorMap clean;
    {
      torch::NoGradGuard g;
      f = backbone->forward(images);
      clean = task->head(f);
    }
    Features g = f;
    auto j = est->forward(f);
    for (size_t l = 0; l < g.levels.size(); ++l) g.levels[l] = f.levels[l] + j.levels[l];
    auto loss = task->discrepancy(clean, task->head(g)) - 0.1 * j.levels[0].abs().mean();
    opt.zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(est->parameters(), 1.0);
    opt.step();
  });

  // A K-point sweep as the worker runs it: clean features computed once, then per point a
  // distortion, the head and the NRMSE/cosine reduction over every cached batch.
  torch::NoGradGuard g;
  std::vector<Features> cached;
  double backbone_pass = seconds_per_iter(device, 0, 1, [&] {
    cached.clear();
    for (int b = 0; b < o.sweep_batches; ++b) cached.push_back(backbone->forward(images));
  });
  double head_pass = seconds_per_iter(device, 1, 3, [&] {
    for (auto& f : cached) task->head(f);
  });
  double sweep = seconds_per_iter(device, 0, 1, [&] {
    for (int b = 0; b < o.sweep_batches; ++b) cached[static_cast<size_t>(b)] = backbone->forward(images);
    for (int k = 0; k < o.sweep_points; ++k) {
      for (size_t b = 0; b < cached.size(); ++b) {
        Features d = cached[b];
        auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(k * 1000 + static_cast<int>(b)));
        for (auto& l : d.levels) l = l + (0.1 * torch::randn(l.sizes(), gen, torch::kFloat)).to(l.device(), l.scalar_type());
        task->head(d);
        distortion_strength(cached[b], d);
      }
    }
  });
  double ideal = backbone_pass + o.sweep_points * head_pass;
  const double ips_infer = double(o.batch) / infer.median, ips_step = double(o.batch) / step.median;
  std::printf("model benchmark: %s %s, %s, batch %lld, %lldx%lld, %s%s, %d threads\n", o.backbone.c_str(),
              o.backbone_params.dump().c_str(), o.device.c_str(), (long long)o.batch, (long long)o.size,
              (long long)o.size, o.bf16 ? "bf16" : "fp32", o.channels_last ? ", channels_last" : "",
              torch::get_num_threads());
  std::printf("  img/s at the fastest / the median of %d calls\n", o.iters);
  std::printf("  frozen backbone+head inference: %10.1f / %10.1f img/s\n", double(o.batch) / infer.min, ips_infer);
  std::printf("  FeatJND training step:          %10.1f / %10.1f img/s  (estimator width %d, %d blocks)\n",
              double(o.batch) / step.min, ips_step, static_cast<int>(o.est_width), static_cast<int>(o.est_blocks));
  std::printf("  step / inference (medians):     %10.3f\n", ips_step / ips_infer);
  std::printf("  %d-point sweep over %d batches:   %10.3f s; one backbone pass + %d head passes: %.3f s; ratio %.3f\n",
              o.sweep_points, o.sweep_batches, sweep, o.sweep_points, ideal, sweep / ideal);
  std::printf("  (without the feature cache the sweep would cost %.3f s: %.1fx)\n",
              o.sweep_points * (backbone_pass + head_pass), o.sweep_points * (backbone_pass + head_pass) / sweep);
}

// One image's feature levels (a Mask R-CNN FPN at 800 x 1216: 21 million elements) through the
// codec plugins, end to end: quantize, encode, decode, check, dequantize. The quantizers' own codec
// tally splits the time into entropy coding and the rest (the step map, the quantizing and the
// dequantizing pass, the check); quant-featjnd's tolerance map is timed apart. The
// estimator is random-initialised (its width from --estimator-width): the times hold for any
// fitted one, the rates are those of these features and steps only.
void run_codec_image_bench(const PluginRegistry& reg, const ModelBenchOptions& o) {
  torch::Device device(o.device);
  BenchContext ctx(device);
  torch::manual_seed(0);  // the random weights, image and estimator: the same features every run
  auto backbone = make<Backbone>(reg, "backbone", o.backbone, o.backbone_params);
  auto task = make<Task>(reg, "task", o.task, o.task_params);
  backbone->module().to(device);
  backbone->module().eval();
  torch::NoGradGuard no_grad;
  const auto image = torch::randn({1, o.channels, o.height, o.width}, torch::TensorOptions().device(device));
  const Features f = backbone->forward(image);
  int64_t elements = 0;
  std::string shapes;
  for (auto& l : f.levels) {
    elements += l.numel();
    shapes += fmt::format(" {}x{}x{}", l.size(1), l.size(2), l.size(3));
  }
  double sq = 0;
  for (auto& l : f.levels) sq += l.to(torch::kDouble).pow(2).sum().item<double>();
  const double rms = std::sqrt(sq / double(elements));
  plugins::EstimatorConfig ec;
  ec.channels = f.levels[0].size(1);
  ec.width = o.est_width;
  ec.blocks = o.est_blocks;
  ec.levels = static_cast<int64_t>(f.levels.size());
  plugins::Estimator est(ec);
  est->to(device);
  est->eval();
  plugins::save_estimator(est, ctx);
  const Timing tolerance = time_calls(device, o.warmup, o.iters, [&] { est->forward(f); });
  std::printf("codec, one image: %s %s at %lldx%lld, %s, %d threads: %lld elements in %zu levels (%s), RMS %.4g\n",
              o.backbone.c_str(), o.backbone_params.dump().c_str(), (long long)o.height, (long long)o.width,
              o.device.c_str(), torch::get_num_threads(), (long long)elements, f.levels.size(), shapes.c_str() + 1, rms);
  std::printf("  quant-featjnd's tolerance map (estimator width %lld, %lld blocks): %.1f / %.1f ms (min / median)\n",
              (long long)o.est_width, (long long)o.est_blocks, 1e3 * tolerance.min, 1e3 * tolerance.median);
  std::printf("  %-14s %8s %9s %10s %17s %12s %12s %13s %8s\n", "quantizer", "σ_q/RMS", "bits/elt", "side", "total ms min/med",
              "encode ms", "decode ms", "quantize ms", "coding");
  for (const char* plugin : {"quant-uniform", "quant-featjnd"}) {
    for (double k : {0.02, 0.1, 0.5}) {
      auto d = make<Distortion>(reg, "distortion", plugin, {{"sigma_q", k * rms}, {"codec", true}});
      d->begin_evaluation(*backbone, *task, ctx);
      ApplyInfo info;
      info.pixels = double(o.height * o.width);
      const Timing t = time_calls(device, o.warmup, o.iters, [&] { d->apply(f, info); });
      auto m = d->evaluation_metrics();  // per call, averaged over the warm-up and timed calls
      const double coding = m["codec.encode_ms"] + m["codec.decode_ms"];
      const double guide = std::string(plugin) == "quant-featjnd" ? 1e3 * tolerance.median : 0.0;
      std::printf("  %-14s %8.2f %9.3f %9.1f%% %8.1f /%7.1f %12.1f %12.1f %13.1f %7.0f%%\n", plugin, k,
                  m["codec.bits_per_element"], 100 * m["codec.side_share"], 1e3 * t.min, 1e3 * t.median,
                  m["codec.encode_ms"], m["codec.decode_ms"], 1e3 * t.median - coding - guide,
                  100 * coding / (1e3 * t.median));
    }
  }
  std::printf("  (quantize: the step map, the quantizing and the dequantizing pass and the check of the decoded\n"
              "   symbols, that is the total less the entropy coding and, for quant-featjnd, the tolerance map)\n");
}

}  // namespace
}  // namespace featjnd

int main(int argc, char** argv) {
  namespace po = boost::program_options;
  featjnd::ModelBenchOptions o;
  std::string bp = "{}", tp = "{}", plugin_dir;
  po::options_description opts(
      "featjnd-bench-model: inference and FeatJND training-step rates, and the sweep cost ratio");
  opts.add_options()("help,h", "this help")("backbone", po::value(&o.backbone)->default_value("resnet"), "backbone plugin")(
      "backbone-params", po::value(&bp)->default_value("{}"), "its parameters (JSON)")(
      "task", po::value(&o.task)->default_value("classification"), "task plugin")(
      "task-params", po::value(&tp)->default_value("{}"), "its parameters (JSON)")(
      "device", po::value(&o.device)->default_value("cpu"), "cpu or cuda:N")(
      "batch", po::value(&o.batch)->default_value(32), "batch size")(
      "size", po::value(&o.size)->default_value(224), "image height and width")(
      "channels", po::value(&o.channels)->default_value(3), "image channels")(
      "iters", po::value(&o.iters)->default_value(10), "timed iterations")(
      "warmup", po::value(&o.warmup)->default_value(2), "untimed iterations first")(
      "estimator-width", po::value(&o.est_width)->default_value(256), "FeatJND estimator width W")(
      "estimator-blocks", po::value(&o.est_blocks)->default_value(2), "FeatJND estimator residual blocks")(
      "sweep-points", po::value(&o.sweep_points)->default_value(8), "K")(
      "sweep-batches", po::value(&o.sweep_batches)->default_value(4), "batches per sweep point")(
      "bf16", po::bool_switch(&o.bf16), "bfloat16 weights and activations")(
      "channels-last", po::bool_switch(&o.channels_last), "channels_last memory format")(
      "plugin-dir", po::value(&plugin_dir), "plugin folder (default: the engine's)")(
      "codec-image", po::bool_switch(&o.codec_image),
      "instead: one image's feature levels through the codec plugins (quant-uniform, quant-featjnd) at three rates")(
      "height", po::value(&o.height)->default_value(800), "--codec-image: image height")(
      "width", po::value(&o.width)->default_value(1216), "--codec-image: image width");
  try {
    po::variables_map vm;
    po::store(po::parse_command_line(argc, argv, opts), vm);
    if (vm.count("help")) {
      std::cout << opts << "\n";
      return 0;
    }
    po::notify(vm);
    o.backbone_params = nlohmann::json::parse(bp);
    o.task_params = nlohmann::json::parse(tp);
    if (!o.task_params.contains("channels")) o.task_params["channels"] = o.channels;
    // As the engine's CPU worker does: every CPU this process may use (LibTorch may start with one thread).
    if (!std::getenv("OMP_NUM_THREADS")) torch::set_num_threads(featjnd::usable_cpus());
    featjnd::PluginRegistry reg;
    reg.load_dirs(plugin_dir.empty() ? std::vector<std::string>{FEATJND_BUILD_PLUGIN_DIR} : std::vector<std::string>{plugin_dir});
    if (!reg.errors().empty()) throw std::runtime_error(reg.errors().front());
    if (o.codec_image) featjnd::run_codec_image_bench(reg, o);
    else featjnd::run_model_bench(reg, o);
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "featjnd-bench-model: error: %s\n", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "featjnd-bench-model: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
