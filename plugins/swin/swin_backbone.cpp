// Swin Transformer (v1) with torchvision's structure and state-dict names (features.0.0 patch
// embedding, features.{1,3,5,7}.{i}.attn.qkv / relative_position_bias_table /
// relative_position_index, features.{2,4,6}.reduction, norm, and the classifier `head`), so
// torchvision's swin_t/s/b checkpoints load by name. Classification split: after the final norm,
// as B×C×H×W (768×7×7 for Swin-T at 224). Shifted windows follow torchvision's
// shifted_window_attention exactly: pad to whole windows, no shift when a window covers the map,
// cyclic roll, the −100 attention mask between regions, relative position bias.
#include <cmath>

#include <torch/torch.h>

#include "featjnd/plugin.h"
#include "featjnd_plugins/fpn.h"

namespace {

namespace F = torch::nn::functional;

// timm/torchvision trunc_normal_(std, a=-2, b=2): the bounds are absolute, so at std 0.02 they
// never bite and a clamped normal is the same distribution (LibTorch 1.13 has no trunc_normal_).
void trunc_normal(torch::Tensor& t, double std) {
  torch::NoGradGuard g;
  t.normal_(0.0, std).clamp_(-2.0, 2.0);
}

torch::nn::LayerNorm layer_norm(int64_t dim) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-5));
}

struct WindowAttentionImpl : torch::nn::Module {
  WindowAttentionImpl(int64_t dim, int64_t window, int64_t shift, int64_t heads)
      : window(window), shift(shift), heads(heads) {
    qkv = register_module("qkv", torch::nn::Linear(dim, dim * 3));
    proj = register_module("proj", torch::nn::Linear(dim, dim));
    relative_position_bias_table = register_parameter(
        "relative_position_bias_table", torch::zeros({(2 * window - 1) * (2 * window - 1), heads}));
    trunc_normal(relative_position_bias_table, 0.02);
    auto coords = torch::stack(torch::meshgrid({torch::arange(window), torch::arange(window)}, "ij")).flatten(1);
    auto rel = (coords.unsqueeze(2) - coords.unsqueeze(1)).permute({1, 2, 0}).contiguous();
    rel.select(2, 0).add_(window - 1).mul_(2 * window - 1);
    rel.select(2, 1).add_(window - 1);
    relative_position_index = register_buffer("relative_position_index", rel.sum(-1).flatten());
  }

  torch::Tensor forward(const torch::Tensor& input) {  // B×H×W×C
    const int64_t B = input.size(0), H = input.size(1), W = input.size(2), C = input.size(3);
    const int64_t pad_r = (window - W % window) % window, pad_b = (window - H % window) % window;
    auto x = F::pad(input, F::PadFuncOptions({0, 0, 0, pad_r, 0, pad_b}));
    const int64_t pH = x.size(1), pW = x.size(2);
    int64_t sh = window >= pH ? 0 : shift, sw = window >= pW ? 0 : shift;
    if (sh + sw > 0) x = torch::roll(x, {-sh, -sw}, {1, 2});
    const int64_t nW = (pH / window) * (pW / window), N = window * window;
    x = x.view({B, pH / window, window, pW / window, window, C}).permute({0, 1, 3, 2, 4, 5}).reshape({B * nW, N, C});

    auto q_k_v = qkv(x).reshape({x.size(0), N, 3, heads, C / heads}).permute({2, 0, 3, 1, 4});
    auto q = q_k_v[0] * std::pow(double(C / heads), -0.5);
    auto attn = q.matmul(q_k_v[1].transpose(-2, -1));
    auto bias = relative_position_bias_table.index({relative_position_index}).view({N, N, -1}).permute({2, 0, 1});
    attn = attn + bias.unsqueeze(0);
    if (sh + sw > 0) {
      auto mask = x.new_zeros({pH, pW});
      int64_t count = 0;
      std::vector<std::pair<int64_t, int64_t>> hs = {{0, pH - window}, {pH - window, pH - sh}, {pH - sh, pH}};
      std::vector<std::pair<int64_t, int64_t>> ws = {{0, pW - window}, {pW - window, pW - sw}, {pW - sw, pW}};
      for (auto& h : hs)
        for (auto& w : ws) {
          mask.slice(0, h.first, h.second).slice(1, w.first, w.second).fill_(static_cast<double>(count));
          ++count;
        }
      mask = mask.view({pH / window, window, pW / window, window}).permute({0, 2, 1, 3}).reshape({nW, N});
      mask = mask.unsqueeze(1) - mask.unsqueeze(2);
      mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0);
      attn = attn.view({x.size(0) / nW, nW, heads, N, N}) + mask.unsqueeze(1).unsqueeze(0);
      attn = attn.view({-1, heads, N, N});
    }
    attn = torch::softmax(attn, -1);
    x = attn.matmul(q_k_v[2]).transpose(1, 2).reshape({x.size(0), N, C});
    x = proj(x);
    x = x.view({B, pH / window, pW / window, window, window, C}).permute({0, 1, 3, 2, 4, 5}).reshape({B, pH, pW, C});
    if (sh + sw > 0) x = torch::roll(x, {sh, sw}, {1, 2});
    return x.slice(1, 0, H).slice(2, 0, W).contiguous();
  }

  int64_t window, shift, heads;
  torch::nn::Linear qkv{nullptr}, proj{nullptr};
  torch::Tensor relative_position_bias_table, relative_position_index;
};
TORCH_MODULE(WindowAttention);

// torchvision's ops.MLP: Linear, GELU, Dropout, Linear, Dropout — parameters at "0" and "3".
struct MlpImpl : torch::nn::Module {
  MlpImpl(int64_t dim, int64_t hidden) {
    fc1 = register_module("0", torch::nn::Linear(dim, hidden));
    fc2 = register_module("3", torch::nn::Linear(hidden, dim));
  }
  torch::Tensor forward(const torch::Tensor& x) { return fc2(F::gelu(fc1(x))); }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(Mlp);

struct SwinBlockImpl : torch::nn::Module {
  SwinBlockImpl(int64_t dim, int64_t heads, int64_t window, int64_t shift, double sd_prob) : sd_prob(sd_prob) {
    norm1 = register_module("norm1", layer_norm(dim));
    attn = register_module("attn", WindowAttention(dim, window, shift, heads));
    norm2 = register_module("norm2", layer_norm(dim));
    mlp = register_module("mlp", Mlp(dim, 4 * dim));
  }
  // Stochastic depth, "row" mode: whole samples dropped while training, identity at evaluation.
  torch::Tensor drop_path(const torch::Tensor& x) {
    if (!is_training() || sd_prob == 0.0) return x;
    auto keep = torch::empty({x.size(0), 1, 1, 1}, x.options()).bernoulli_(1.0 - sd_prob);
    return x * keep / (1.0 - sd_prob);
  }
  torch::Tensor forward(torch::Tensor x) {
    x = x + drop_path(attn(norm1(x)));
    return x + drop_path(mlp(norm2(x)));
  }
  double sd_prob;
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  WindowAttention attn{nullptr};
  Mlp mlp{nullptr};
};
TORCH_MODULE(SwinBlock);

struct PatchMergingImpl : torch::nn::Module {
  explicit PatchMergingImpl(int64_t dim) {
    reduction = register_module("reduction", torch::nn::Linear(torch::nn::LinearOptions(4 * dim, 2 * dim).bias(false)));
    norm = register_module("norm", layer_norm(4 * dim));
  }
  torch::Tensor forward(const torch::Tensor& input) {  // B×H×W×C
    auto x = F::pad(input, F::PadFuncOptions({0, 0, 0, input.size(2) % 2, 0, input.size(1) % 2}));
    using torch::indexing::Slice;
    auto x0 = x.index({Slice(), Slice(0, torch::indexing::None, 2), Slice(0, torch::indexing::None, 2)});
    auto x1 = x.index({Slice(), Slice(1, torch::indexing::None, 2), Slice(0, torch::indexing::None, 2)});
    auto x2 = x.index({Slice(), Slice(0, torch::indexing::None, 2), Slice(1, torch::indexing::None, 2)});
    auto x3 = x.index({Slice(), Slice(1, torch::indexing::None, 2), Slice(1, torch::indexing::None, 2)});
    return reduction(norm(torch::cat({x0, x1, x2, x3}, -1)));
  }
  torch::nn::Linear reduction{nullptr};
  torch::nn::LayerNorm norm{nullptr};
};
TORCH_MODULE(PatchMerging);

// features.0: Conv2d at "0", torchvision's Permute at "1" (no parameters), LayerNorm at "2".
struct PatchEmbedImpl : torch::nn::Module {
  PatchEmbedImpl(int64_t in, int64_t dim, int64_t patch) {
    conv = register_module("0", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, dim, patch).stride(patch)));
    register_module("1", torch::nn::Identity());
    norm = register_module("2", layer_norm(dim));
  }
  torch::Tensor forward(const torch::Tensor& x) { return norm(conv(x).permute({0, 2, 3, 1})); }
  torch::nn::Conv2d conv{nullptr};
  torch::nn::LayerNorm norm{nullptr};
};
TORCH_MODULE(PatchEmbed);

struct SwinConfig {
  int64_t embed_dim, patch, window, in_channels;
  std::vector<int64_t> depths, heads;
  double stochastic_depth;
  bool out_norms = false;  // mmdetection's detection Swin: norm0..norm3 on the stage outputs, no final norm
};

struct SwinImpl : torch::nn::Module {
  explicit SwinImpl(const SwinConfig& c) {
    features = register_module("features", torch::nn::ModuleList());
    features->push_back(PatchEmbed(c.in_channels, c.embed_dim, c.patch));
    int64_t total = 0, id = 0;
    for (auto d : c.depths) total += d;
    for (size_t s = 0; s < c.depths.size(); ++s) {
      int64_t dim = c.embed_dim << s;
      torch::nn::ModuleList stage;
      for (int64_t i = 0; i < c.depths[s]; ++i, ++id) {
        double p = total > 1 ? c.stochastic_depth * double(id) / double(total - 1) : 0.0;
        stage->push_back(SwinBlock(dim, c.heads[s], c.window, i % 2 == 0 ? 0 : c.window / 2, p));
      }
      features->push_back(stage);
      if (s + 1 < c.depths.size()) features->push_back(PatchMerging(dim));
    }
    out_channels = c.embed_dim << (c.depths.size() - 1);
    if (c.out_norms)
      for (size_t s = 0; s < c.depths.size(); ++s)
        out_norms.push_back(register_module("norm" + std::to_string(s), layer_norm(c.embed_dim << s)));
    else
      norm = register_module("norm", layer_norm(out_channels));
    // torchvision's last word on initialisation: every Linear trunc_normal(0.02), zero bias.
    for (auto& m : modules(false))
      if (auto* l = m->as<torch::nn::Linear>()) {
        trunc_normal(l->weight, 0.02);
        if (l->bias.defined()) torch::nn::init::zeros_(l->bias);
      }
  }
  // The final norm's output as B×C×H×W (classification models); `stage_outputs` (if given)
  // receives every stage's output before its patch merging, B×C×H×W (strides 4 to 32), through
  // its own norm in the detection arrangement.
  torch::Tensor forward(const torch::Tensor& images, std::vector<torch::Tensor>* stage_outputs = nullptr) {
    auto x = features[0]->as<PatchEmbed>()->forward(images);
    for (size_t i = 1; i < features->size(); ++i) {
      if (auto* stage = features[i]->as<torch::nn::ModuleList>()) {
        for (auto& b : *stage) x = b->as<SwinBlock>()->forward(x);
        if (stage_outputs) {
          const size_t s = stage_outputs->size();
          stage_outputs->push_back((out_norms.empty() ? x : out_norms.at(s)(x)).permute({0, 3, 1, 2}));
        }
      } else {
        x = features[i]->as<PatchMerging>()->forward(x);
      }
    }
    return norm ? norm(x).permute({0, 3, 1, 2}) : x.permute({0, 3, 1, 2});
  }
  torch::nn::ModuleList features{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  std::vector<torch::nn::LayerNorm> out_norms;
  int64_t out_channels = 0;
};
TORCH_MODULE(Swin);

SwinConfig config_of(const featjnd::Params& p) {
  SwinConfig c;
  const auto arch = p.text("arch");
  c.patch = p.integer("patch_size");
  c.window = p.integer("window_size");
  c.in_channels = p.integer("in_channels");
  if (arch == "swin_t") c = {96, c.patch, c.window, c.in_channels, {2, 2, 6, 2}, {3, 6, 12, 24}, 0.2};
  else if (arch == "swin_s") c = {96, c.patch, c.window, c.in_channels, {2, 2, 18, 2}, {3, 6, 12, 24}, 0.3};
  else if (arch == "swin_b") c = {128, c.patch, c.window, c.in_channels, {2, 2, 18, 2}, {4, 8, 16, 32}, 0.5};
  else {
    c.embed_dim = p.integer("embed_dim");
    c.depths = p.at("depths").get<std::vector<int64_t>>();
    c.heads = p.at("num_heads").get<std::vector<int64_t>>();
    c.stochastic_depth = 0.1;
    if (c.depths.empty() || c.depths.size() != c.heads.size())
      throw std::invalid_argument("swin custom: depths and num_heads must be non-empty and of one length");
    for (size_t s = 0; s < c.heads.size(); ++s)
      if (((c.embed_dim << s) % c.heads[s]) != 0)
        throw std::invalid_argument("swin custom: every stage's width must be divisible by its heads");
  }
  if (p.real("stochastic_depth") >= 0) c.stochastic_depth = p.real("stochastic_depth");
  c.out_norms = p.text("neck") == "fpn";
  return c;
}

class SwinBackbone : public featjnd::Backbone {
 public:
  explicit SwinBackbone(const featjnd::Params& p)
      : net_(config_of(p)), weights_(p.text("weights")), strict_(p.flag("strict")) {
    if (p.text("neck") == "fpn") {
      std::vector<int64_t> widths;
      for (size_t s = 0; s < net_->out_norms.size(); ++s) widths.push_back(net_->out_norms[s]->options.normalized_shape()[0]);
      neck_ = net_->register_module(
          "neck", featjnd::plugins::FeaturePyramid(widths, p.integer("fpn_channels"), featjnd::plugins::FpnNames::mmdetection));
    }
  }
  torch::nn::Module& module() override { return *net_; }
  featjnd::Features forward(const torch::Tensor& images) override {
    if (neck_) return {neck_->forward(forward_stages(images).levels), featjnd::plugins::fpn_level_names()};
    return {{net_->forward(images)}, {"norm"}};
  }
  // Stage outputs; with the FPN neck each has passed its own norm (mmdetection's norm0..norm3).
  featjnd::Features forward_stages(const torch::Tensor& images) override {
    featjnd::Features f;
    net_->forward(images, &f.levels);
    for (size_t i = 0; i < f.levels.size(); ++i) f.names.push_back("stage" + std::to_string(i));
    return f;
  }
  std::string weights_path() const override { return weights_; }
  bool weights_strict() const override { return strict_; }
  std::string classifier_prefix() const override { return "head."; }

 private:
  Swin net_;
  featjnd::plugins::FeaturePyramid neck_{nullptr};
  std::string weights_;
  bool strict_;
};

const featjnd_param_info kParams[] = {
    featjnd::param("arch", "string", "\"swin_t\"", "torchvision architecture, or custom (embed_dim, depths, num_heads)",
                   FEATJND_STAGE_ALL, -HUGE_VAL, HUGE_VAL, "swin_t|swin_s|swin_b|custom"),
    featjnd::param("patch_size", "int", "4", "patch embedding stride", FEATJND_STAGE_ALL, 1, 64),
    featjnd::param("window_size", "int", "7", "attention window", FEATJND_STAGE_ALL, 1, 64),
    featjnd::param("in_channels", "int", "3", "input channels", FEATJND_STAGE_ALL, 1, 3),
    featjnd::param("embed_dim", "int", "96", "custom: width of the first stage", FEATJND_STAGE_ALL, 1, 4096),
    featjnd::param("depths", "json", "[2, 2, 6, 2]", "custom: blocks per stage"),
    featjnd::param("num_heads", "json", "[3, 6, 12, 24]", "custom: attention heads per stage"),
    featjnd::param("stochastic_depth", "float", "-1", "stochastic depth rate while training (-1: the architecture's)",
                   FEATJND_STAGE_PREPARE, -1, 1),
    featjnd::param("neck", "string", "\"none\"",
                   "none, or fpn: mmdetection's arrangement (norm0-3 on the stage outputs, FPN neck.*), the split "
                   "becomes its 5 levels",
                   FEATJND_STAGE_ALL, -HUGE_VAL, HUGE_VAL, "none|fpn"),
    featjnd::param("fpn_channels", "int", "256", "FPN output channels", FEATJND_STAGE_ALL, 1, 4096),
    featjnd::param("weights", "path", "\"\"", "torchvision weights (safetensors); empty: the task trains",
                   FEATJND_STAGE_PREPARE),
    featjnd::param("strict", "bool", "true", "every key of the weights file must match the model", FEATJND_STAGE_PREPARE),
};

}  // namespace

FEATJND_PLUGIN("backbone", "swin", "1.0", "Swin Transformer T/S/B with torchvision state-dict names", kParams,
               SwinBackbone)
