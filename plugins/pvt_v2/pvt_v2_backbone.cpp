// PVTv2-b1/b2/b3 with timm's structure and state-dict names (patch_embed.proj/norm,
// stages.{i}.downsample, stages.{i}.blocks.{j}.attn.{q,kv,sr,norm,proj},
// mlp.{fc1,dwconv,fc2}, stages.{i}.norm, and the classifier `head`), so timm checkpoints load by
// name: overlapping patch embeddings (7×7/4, then 3×3/2), spatial-reduction attention (a strided
// conv + LayerNorm on keys and values), a depth-wise 3×3 conv inside the MLP. Classification
// split: the last stage's output, B×C×H×W.
#include <cmath>

#include <torch/torch.h>

#include "featjnd/plugin.h"
#include "featjnd_plugins/fpn.h"

namespace {

namespace F = torch::nn::functional;

torch::nn::LayerNorm layer_norm(int64_t dim, double eps) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(eps));
}

// Conv with stride < kernel (overlapping patches) + LayerNorm (timm's default eps, 1e-5):
// B×C×H×W in, B×H×W×C out.
struct OverlapPatchEmbedImpl : torch::nn::Module {
  OverlapPatchEmbedImpl(int64_t in, int64_t dim, int64_t patch, int64_t stride) {
    proj = register_module("proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, dim, patch).stride(stride).padding(patch / 2)));
    norm = register_module("norm", layer_norm(dim, 1e-5));
  }
  torch::Tensor forward(const torch::Tensor& x) { return norm(proj(x).permute({0, 2, 3, 1})); }
  torch::nn::Conv2d proj{nullptr};
  torch::nn::LayerNorm norm{nullptr};
};
TORCH_MODULE(OverlapPatchEmbed);

struct AttentionImpl : torch::nn::Module {
  AttentionImpl(int64_t dim, int64_t heads, int64_t sr_ratio) : heads(heads), head_dim(dim / heads) {
    q = register_module("q", torch::nn::Linear(dim, dim));
    kv = register_module("kv", torch::nn::Linear(dim, dim * 2));
    proj = register_module("proj", torch::nn::Linear(dim, dim));
    if (sr_ratio > 1) {
      sr = register_module("sr", torch::nn::Conv2d(torch::nn::Conv2dOptions(dim, dim, sr_ratio).stride(sr_ratio)));
      norm = register_module("norm", layer_norm(dim, 1e-5));
    }
  }
  torch::Tensor forward(const torch::Tensor& x, int64_t H, int64_t W) {  // B×N×C
    const int64_t B = x.size(0), N = x.size(1), C = x.size(2);
    auto qh = q(x).reshape({B, N, heads, -1}).permute({0, 2, 1, 3});
    auto src = x;
    if (sr) src = norm(sr(x.permute({0, 2, 1}).reshape({B, C, H, W})).reshape({B, C, -1}).permute({0, 2, 1}));
    auto k_v = kv(src).reshape({B, -1, 2, heads, head_dim}).permute({2, 0, 3, 1, 4});
    auto attn = torch::softmax(qh.matmul(k_v[0].transpose(-2, -1)) * std::pow(double(head_dim), -0.5), -1);
    return proj(attn.matmul(k_v[1]).transpose(1, 2).reshape({B, N, C}));
  }
  int64_t heads, head_dim;
  torch::nn::Linear q{nullptr}, kv{nullptr}, proj{nullptr};
  torch::nn::Conv2d sr{nullptr};
  torch::nn::LayerNorm norm{nullptr};
};
TORCH_MODULE(Attention);

struct MlpImpl : torch::nn::Module {
  MlpImpl(int64_t dim, int64_t hidden) {
    fc1 = register_module("fc1", torch::nn::Linear(dim, hidden));
    dwconv = register_module("dwconv", torch::nn::Conv2d(torch::nn::Conv2dOptions(hidden, hidden, 3).padding(1).groups(hidden)));
    fc2 = register_module("fc2", torch::nn::Linear(hidden, dim));
  }
  torch::Tensor forward(const torch::Tensor& x, int64_t H, int64_t W) {
    auto y = fc1(x);
    const int64_t B = y.size(0), C = y.size(2);
    y = dwconv(y.transpose(1, 2).view({B, C, H, W})).flatten(2).transpose(1, 2);
    return fc2(F::gelu(y));
  }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  torch::nn::Conv2d dwconv{nullptr};
};
TORCH_MODULE(Mlp);

struct BlockImpl : torch::nn::Module {
  BlockImpl(int64_t dim, int64_t heads, int64_t mlp_ratio, int64_t sr_ratio, double drop_path) : drop_path(drop_path) {
    norm1 = register_module("norm1", layer_norm(dim, 1e-6));
    attn = register_module("attn", Attention(dim, heads, sr_ratio));
    norm2 = register_module("norm2", layer_norm(dim, 1e-6));
    mlp = register_module("mlp", Mlp(dim, dim * mlp_ratio));
  }
  torch::Tensor drop(const torch::Tensor& x) {
    if (!is_training() || drop_path == 0.0) return x;
    auto keep = torch::empty({x.size(0), 1, 1}, x.options()).bernoulli_(1.0 - drop_path);
    return x * keep / (1.0 - drop_path);
  }
  torch::Tensor forward(torch::Tensor x, int64_t H, int64_t W) {
    x = x + drop(attn(norm1(x), H, W));
    return x + drop(mlp(norm2(x), H, W));
  }
  double drop_path;
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  Attention attn{nullptr};
  Mlp mlp{nullptr};
};
TORCH_MODULE(Block);

struct StageImpl : torch::nn::Module {
  StageImpl(int64_t in, int64_t dim, bool downsample_, int64_t depth, int64_t heads, int64_t mlp_ratio, int64_t sr,
            const std::vector<double>& drop_paths) {
    if (downsample_) downsample = register_module("downsample", OverlapPatchEmbed(in, dim, 3, 2));
    blocks = register_module("blocks", torch::nn::ModuleList());
    for (int64_t j = 0; j < depth; ++j) blocks->push_back(Block(dim, heads, mlp_ratio, sr, drop_paths[static_cast<size_t>(j)]));
    norm = register_module("norm", layer_norm(dim, 1e-6));
  }
  // Stage 0 receives B×H×W×C from the patch embedding; later stages B×C×H×W. Returns B×C×H×W.
  torch::Tensor forward(torch::Tensor x) {
    if (downsample) x = downsample(x);
    const int64_t B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
    x = x.reshape({B, H * W, C});
    for (auto& b : *blocks) x = b->as<Block>()->forward(x, H, W);
    return norm(x).reshape({B, H, W, -1}).permute({0, 3, 1, 2}).contiguous();
  }
  OverlapPatchEmbed downsample{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm norm{nullptr};
};
TORCH_MODULE(Stage);

struct PvtConfig {
  std::vector<int64_t> depths, dims, heads, mlp_ratios, sr_ratios{8, 4, 2, 1};
  int64_t in_channels = 3;
  int64_t stem_stride = 4;  // timm: a 7×7/4 patch embedding; 2 or 1 (3×3) for small images
  double drop_path = 0.0;
};

struct PvtV2Impl : torch::nn::Module {
  explicit PvtV2Impl(const PvtConfig& c) {
    patch_embed = register_module("patch_embed", OverlapPatchEmbed(c.in_channels, c.dims[0], c.stem_stride == 4 ? 7 : 3,
                                                                   c.stem_stride));
    stages = register_module("stages", torch::nn::ModuleList());
    int64_t total = 0, id = 0;
    for (auto d : c.depths) total += d;
    for (size_t i = 0; i < c.depths.size(); ++i) {
      std::vector<double> dp;
      for (int64_t j = 0; j < c.depths[i]; ++j, ++id) dp.push_back(total > 1 ? c.drop_path * double(id) / double(total - 1) : 0.0);
      stages->push_back(Stage(i == 0 ? c.dims[0] : c.dims[i - 1], c.dims[i], i > 0, c.depths[i], c.heads[i],
                              c.mlp_ratios[i], c.sr_ratios[i], dp));
    }
    out_channels = c.dims.back();
  }
  std::vector<torch::Tensor> forward_stages(const torch::Tensor& images) {
    std::vector<torch::Tensor> outs;
    auto x = patch_embed(images);
    for (auto& s : *stages) {
      x = s->as<Stage>()->forward(x);
      outs.push_back(x);
    }
    return outs;
  }
  OverlapPatchEmbed patch_embed{nullptr};
  torch::nn::ModuleList stages{nullptr};
  int64_t out_channels = 0;
};
TORCH_MODULE(PvtV2);

PvtConfig config_of(const featjnd::Params& p) {
  PvtConfig c;
  const auto arch = p.text("arch");
  c.mlp_ratios = {8, 8, 4, 4};
  c.heads = {1, 2, 5, 8};
  c.dims = {64, 128, 320, 512};
  if (arch == "pvt_v2_b1") c.depths = {2, 2, 2, 2};
  else if (arch == "pvt_v2_b2") c.depths = {3, 4, 6, 3};
  else if (arch == "pvt_v2_b3") c.depths = {3, 4, 18, 3};
  else {
    c.depths = p.at("depths").get<std::vector<int64_t>>();
    c.dims = p.at("embed_dims").get<std::vector<int64_t>>();
    c.heads = p.at("num_heads").get<std::vector<int64_t>>();
    c.mlp_ratios = p.at("mlp_ratios").get<std::vector<int64_t>>();
    if (c.depths.size() != 4 || c.dims.size() != 4 || c.heads.size() != 4 || c.mlp_ratios.size() != 4)
      throw std::invalid_argument("pvt_v2 custom: depths, embed_dims, num_heads and mlp_ratios need 4 entries");
  }
  c.in_channels = p.integer("in_channels");
  c.drop_path = p.real("drop_path");
  c.stem_stride = p.integer("stem_stride");
  if (c.stem_stride == 3) throw std::invalid_argument("pvt_v2: stem_stride 3; expected 1, 2 or 4");
  if (arch != "custom" && c.stem_stride != 4)
    throw std::invalid_argument("pvt_v2: stem_stride " + std::to_string(c.stem_stride) + " needs arch custom (timm's are 4)");
  return c;
}

class PvtV2Backbone : public featjnd::Backbone {
 public:
  explicit PvtV2Backbone(const featjnd::Params& p) : net_(config_of(p)), weights_(p.text("weights")), strict_(p.flag("strict")) {
    // mmdetection's PVTv2 Mask R-CNN: the FPN takes the four (already normalised) stage outputs.
    if (p.text("neck") == "fpn")
      neck_ = net_->register_module("neck", featjnd::plugins::FeaturePyramid(config_of(p).dims, p.integer("fpn_channels"),
                                                                             featjnd::plugins::FpnNames::mmdetection));
  }
  torch::nn::Module& module() override { return *net_; }
  featjnd::Features forward(const torch::Tensor& images) override {
    if (neck_) return {neck_->forward(net_->forward_stages(images)), featjnd::plugins::fpn_level_names()};
    return {{net_->forward_stages(images).back()}, {"stage3"}};
  }
  std::string weights_path() const override { return weights_; }
  bool weights_strict() const override { return strict_; }
  std::string classifier_prefix() const override { return "head."; }
  featjnd::Features forward_stages(const torch::Tensor& images) override {
    return {net_->forward_stages(images), {"stage0", "stage1", "stage2", "stage3"}};
  }

 private:
  PvtV2 net_;
  featjnd::plugins::FeaturePyramid neck_{nullptr};
  std::string weights_;
  bool strict_;
};

const featjnd_param_info kParams[] = {
    featjnd::param("arch", "string", "\"pvt_v2_b2\"", "timm architecture, or custom (depths, embed_dims, num_heads, mlp_ratios)",
                   FEATJND_STAGE_ALL, -HUGE_VAL, HUGE_VAL, "pvt_v2_b1|pvt_v2_b2|pvt_v2_b3|custom"),
    featjnd::param("in_channels", "int", "3", "input channels", FEATJND_STAGE_ALL, 1, 3),
    featjnd::param("depths", "json", "[2, 2, 2, 2]", "custom: blocks per stage"),
    featjnd::param("embed_dims", "json", "[64, 128, 320, 512]", "custom: stage widths"),
    featjnd::param("num_heads", "json", "[1, 2, 5, 8]", "custom: heads per stage"),
    featjnd::param("mlp_ratios", "json", "[8, 8, 4, 4]", "custom: MLP expansion per stage"),
    featjnd::param("stem_stride", "int", "4",
                   "custom: stride of the first patch embedding (4: timm's 7x7/4; 2 or 1: a 3x3 for small images)",
                   FEATJND_STAGE_ALL, 1, 4),
    featjnd::param("drop_path", "float", "0.0", "stochastic depth rate while training", FEATJND_STAGE_PREPARE, 0, 1),
    featjnd::param("neck", "string", "\"none\"",
                   "none, or fpn: mmdetection's FPN (neck.*) over the four stages, the split becomes its 5 levels",
                   FEATJND_STAGE_ALL, -HUGE_VAL, HUGE_VAL, "none|fpn"),
    featjnd::param("fpn_channels", "int", "256", "FPN output channels", FEATJND_STAGE_ALL, 1, 4096),
    featjnd::param("weights", "path", "\"\"", "timm weights (safetensors); empty: the task trains", FEATJND_STAGE_PREPARE),
    featjnd::param("strict", "bool", "true", "every key of the weights file must match the model", FEATJND_STAGE_PREPARE),
};

}  // namespace

FEATJND_PLUGIN("backbone", "pvt_v2", "1.0", "PVTv2-b1/b2/b3 with timm state-dict names", kParams, PvtV2Backbone)
