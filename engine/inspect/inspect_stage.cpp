#include "inspect/inspect_stage.h"

#include <cmath>
#include <functional>

#include <fmt/format.h>
#include <torch/torch.h>

#include "inspect/integrated_gradients.h"
#include "inspect/png.h"

namespace featjnd::inspect {
namespace {

namespace F = torch::nn::functional;

// Image `i` of a batch as a batch of one, with its targets and instances.
Batch one_of(const Batch& b, int64_t i) {
  Batch out;
  out.images = b.images.slice(0, i, i + 1);
  for (auto& [k, t] : b.targets)
    out.targets[k] = t.dim() > 0 && t.size(0) == b.size() ? t.slice(0, i, i + 1) : t;
  if (static_cast<size_t>(i) < b.instances.size()) out.instances.push_back(b.instances[static_cast<size_t>(i)]);
  return out;
}

std::vector<Batch> first_images(Task& task, RunContext& ctx, int64_t n) {
  auto data = task.data(Split::eval, ctx);
  data->reset(0);
  std::vector<Batch> out;
  while (static_cast<int64_t>(out.size()) < n) {
    auto b = data->next();
    if (!b) break;
    for (int64_t i = 0; i < b->size() && static_cast<int64_t>(out.size()) < n; ++i) out.push_back(one_of(*b, i));
  }
  if (out.empty()) throw std::runtime_error("inspect: the evaluation split is empty");
  return out;
}

// A normalised 1×C×H×W image for display: its own range stretched to 0–255, grey as RGB.
torch::Tensor displayed(const torch::Tensor& x) {
  auto v = x[0].detach().to(torch::kCPU, torch::kFloat);
  v = (v - v.min()) / (v.max() - v.min()).clamp_min(1e-12) * 255;
  if (v.size(0) == 1) v = v.expand({3, -1, -1});
  return v.slice(0, 0, 3).permute({1, 2, 0}).round().to(torch::kUInt8);
}

torch::Tensor upsampled(const torch::Tensor& map, int64_t h, int64_t w) {  // h'×w' -> h×w
  return F::interpolate(map.view({1, 1, map.size(0), map.size(1)}),
                        F::InterpolateFuncOptions().size(std::vector<int64_t>{h, w}).mode(torch::kBilinear).align_corners(false))[0][0];
}

// Per level, the relative change ‖ΔF_l‖ / ‖F_l‖ a distortion made to one image.
std::vector<double> relative_change(const Features& f, const Features& g) {
  std::vector<double> r;
  for (size_t l = 0; l < f.levels.size(); ++l)
    r.push_back(((g.levels[l] - f.levels[l]).norm() / f.levels[l].norm().clamp_min(1e-12)).item<double>());
  return r;
}

// Gaussian noise with the same relative change per level, fixed (seeded) for the whole IG path.
std::vector<torch::Tensor> matched_noise(const Features& f, const std::vector<double>& rel, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  std::vector<torch::Tensor> noise;
  for (size_t l = 0; l < f.levels.size(); ++l) {
    auto e = torch::randn(f.levels[l].sizes(), gen, torch::kFloat).to(f.levels[l].device());
    noise.push_back(e * (rel[l] * f.levels[l].norm() / e.norm()));
  }
  return noise;
}

using Through = std::function<Features(const Features&)>;

struct Maps {
  torch::Tensor clean, distorted, gaussian;  // H×W: Σ_c |attribution|
};

void write_maps(RunContext& ctx, const std::string& stem, const Maps& m) {
  auto save = [&](const std::string& name, const torch::Tensor& rgb) {
    write_png(ctx.artifact_path(stem + name), rgb);
    ctx.add_artifact(stem + name, "png");
  };
  save("ig_clean.png", colourise(m.clean, "heat"));
  save("ig_distorted.png", colourise(m.distorted, "heat"));
  save("ig_difference.png", colourise(m.distorted / robust_scale(m.distorted) - m.clean / robust_scale(m.clean), "diverging", 1.0));
  if (m.gaussian.defined()) save("ig_gaussian.png", colourise(m.gaussian, "heat"));
}

// One image: its tolerance map, and its attributions through the clean, distorted and noisy features.
void inspect_image(Backbone& backbone, Task& task, Distortion& dist, RunContext& ctx, const nlohmann::json& p,
                   const Batch& b, int64_t index) {
  const auto device = ctx.device();
  auto x = b.images.to(device);
  Features f, g;
  TensorMap clean;
  {
    torch::NoGradGuard no_grad;
    f = backbone.features(b, device);
    clean = task.head(f);
    g = dist.apply(f, ApplyInfo{index, ctx.seed()});
  }
  const auto stem = fmt::format("{:03d}_", index);
  const int64_t H = x.size(2), W = x.size(3);
  auto image = displayed(x);
  write_png(ctx.artifact_path(stem + "image.png"), image);
  ctx.add_artifact(stem + "image.png", "png");
  // Where the distortion puts its change: ‖ΔF‖₂ over channels on the finest level, over the image.
  auto tolerance = upsampled((g.levels[0] - f.levels[0])[0].norm(2, {0}).cpu(), H, W);
  write_png(ctx.artifact_path(stem + "tolerance.png"), blend(image, colourise(tolerance, "heat"), 0.6));
  ctx.add_artifact(stem + "tolerance.png", "png");
  const auto rel = relative_change(f, g);
  double nrmse = 0;
  for (double r : rel) nrmse += r / double(rel.size());
  ctx.log_metric("inspect.nrmse", nrmse, index);
  if (!p.at("attribution").get<bool>()) return;

  IgOptions o{p.at("ig_steps").get<int64_t>(), p.at("ig_method").get<std::string>(),
              p.at("internal_batch_size").get<int64_t>()};
  auto baseline = torch::full_like(x, p.at("baseline").get<double>());
  auto attribute = [&](const Through& through, const std::string& name) {
    auto target = [&](const torch::Tensor& in) { return task.attribution_target(through(backbone.forward(in)), clean); };
    auto r = integrated_gradients(target, x, baseline, o);
    ctx.log_metric("inspect.delta_" + name, r.delta[0].item<double>(), index);
    {
      torch::NoGradGuard no_grad;
      ctx.log_metric("inspect.target_" + name, target(x)[0].item<double>(), index);
    }
    return r.attributions[0].abs().sum(0).cpu();
  };
  Maps m;
  m.clean = attribute([](const Features& v) { return v; }, "clean");
  m.distorted = attribute([&](const Features& v) { return dist.apply(v, ApplyInfo{index, ctx.seed()}); }, "distorted");
  const double k = p.at("topk").get<double>();
  ctx.log_metric("inspect.spearman", spearman(m.clean, m.distorted), index);
  ctx.log_metric("inspect.topk_overlap", topk_overlap(m.clean, m.distorted, k), index);
  if (p.at("gaussian").get<bool>()) {
    const auto noise = matched_noise(f, rel, ctx.seed() * 7919 + static_cast<uint64_t>(index));
    m.gaussian = attribute(
        [&](const Features& v) {
          Features n = v;
          for (size_t l = 0; l < n.levels.size(); ++l) n.levels[l] = v.levels[l] + noise[l];
          return n;
        },
        "gaussian");
    ctx.log_metric("inspect.spearman_gaussian", spearman(m.clean, m.gaussian), index);
    ctx.log_metric("inspect.topk_overlap_gaussian", topk_overlap(m.clean, m.gaussian, k), index);
  }
  write_maps(ctx, stem, m);
}

// Ranks 0..n−1 of a flat tensor, ties sharing their average rank.
std::vector<double> ranks(const torch::Tensor& t) {
  auto v = t.flatten().to(torch::kCPU, torch::kDouble).contiguous();
  auto [sorted, order] = v.sort();
  auto s = sorted.accessor<double, 1>();
  auto o = order.accessor<int64_t, 1>();
  const int64_t n = v.numel();
  std::vector<double> r(static_cast<size_t>(n));
  for (int64_t i = 0; i < n;) {
    int64_t j = i;
    while (j + 1 < n && s[j + 1] == s[i]) ++j;
    for (int64_t k = i; k <= j; ++k) r[static_cast<size_t>(o[k])] = 0.5 * double(i + j);
    i = j + 1;
  }
  return r;
}

}  // namespace

double spearman(const torch::Tensor& a, const torch::Tensor& b) {
  auto ra = torch::tensor(ranks(a), torch::kDouble), rb = torch::tensor(ranks(b), torch::kDouble);
  ra -= ra.mean(), rb -= rb.mean();
  const double den = (ra.norm() * rb.norm()).item<double>();
  return den > 0 ? (ra * rb).sum().item<double>() / den : 0.0;
}

double topk_overlap(const torch::Tensor& a, const torch::Tensor& b, double share) {
  const int64_t n = a.numel(), k = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(share * double(n))));
  auto ta = std::get<1>(a.flatten().topk(k)), tb = std::get<1>(b.flatten().topk(k));
  auto in_a = torch::zeros({n}, torch::kBool);
  in_a.index_put_({ta.cpu()}, true);
  return double(in_a.index({tb.cpu()}).sum().item<int64_t>()) / double(k);
}

void run_inspection(Backbone& backbone, Task& task, Distortion& distortion, RunContext& ctx, const nlohmann::json& params) {
  const auto images = first_images(task, ctx, params.at("images").get<int64_t>());
  for (size_t i = 0; i < images.size(); ++i) {
    inspect_image(backbone, task, distortion, ctx, params, images[i], static_cast<int64_t>(i));
    ctx.progress(static_cast<int64_t>(i) + 1, static_cast<int64_t>(images.size()), "inspecting");
  }
}

}  // namespace featjnd::inspect
