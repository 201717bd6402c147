// Token-wise uniform quantization at a matched noise budget σ_q (PAPER.md, Evaluations 5). A token
// is one spatial position of one feature level; its step Δ_t is shared by all channels:
// F_q = Δ_t · round(F / Δ_t). Per sample and per level (the five FPN levels each meet the budget):
//   featjnd: τ_t = ‖J_t‖₂ / (‖F_t‖₂ + ε), floored at φ·mean_t τ_t, Δ_t = s·τ_t with
//            s = √12·σ_q / sqrt(mean_t τ_t²), so that the uniform-error model mean_t(Δ_t²)/12 = σ_q²;
//   random:  the same Δ values permuted over the tokens (seeded);
//   uniform: one step Δ = √12·σ_q.
// The floor φ: a token whose step were 0 would pass at full precision, which no codec does for
// free; φ = 0 restores the paper's unfloored map. The quantizers report what they did: the share
// of tokens left at full precision, the share raised to the floor, the share of zero symbols and
// the measured RMS error against σ_q.
// Codec mode (`codec: true`): each token's step is signalled as base·2^(q/8) (base = √12·σ_q, q an
// integer, engine/codec), the symbols round(F/Δ_t) and the steps go through a real bitstream, and
// the task sees the decoded features — checked bit for bit against the quantizer's own output.
// Side information (codec mode): the step map may be coarser than the tokens — one step per
// block × block tokens (`step_block`: the block's mean tolerance, the budget still met over the
// tokens) and log-steps on a coarser grid (`steps_per_octave`: 8, 4, 2 or 1 levels per octave) —
// and the codec predicts each level's map from its decoded neighbours where that codes smaller.
// One implementation, three plugins (quant_featjnd.cpp, quant_random.cpp, quant_uniform.cpp):
// the guide selects the step map.
#include "token_quantization.h"

#include <cmath>

#include <fmt/format.h>
#include <torch/torch.h>

#include "featjnd_plugins/estimator.h"
#include "feature_codec.h"

namespace featjnd::quant {
namespace {

// A block map B×1×⌈H/k⌉×⌈W/k⌉ spread over the H×W tokens (edge blocks cut).
torch::Tensor expanded(const torch::Tensor& map, int64_t h, int64_t w, int64_t block) {
  if (block == 1) return map;
  return map.repeat_interleave(block, 2).repeat_interleave(block, 3).slice(2, 0, h).slice(3, 0, w);
}

// Per-sample steps, one per block of tokens (B×1×⌈H/k⌉×⌈W/k⌉), from a FeatJND map: the tolerance
// floored, averaged over each block, scaled so that the tokens meet the budget; `floored`
// receives the tokens raised to the floor.
torch::Tensor guided_steps(const torch::Tensor& f, const torch::Tensor& j, double sigma_q, double eps,
                           double floor, int64_t block, torch::Tensor* floored) {
  auto tau = j.norm(2, {1}, true) / (f.norm(2, {1}, true) + eps);  // B×1×H×W
  auto low = floor * tau.mean({1, 2, 3}, true);
  *floored = tau < low;
  tau = torch::maximum(tau, low);
  // ceil_mode without padding: an edge block averages the tokens it holds.
  auto map = block == 1 ? tau : torch::avg_pool2d(tau, block, block, 0, /*ceil_mode=*/true, /*count_include_pad=*/false);
  auto rms = expanded(map, f.size(2), f.size(3), block).pow(2).mean({1, 2, 3}, true).sqrt().clamp_min(1e-30);
  return std::sqrt(12.0) * sigma_q * map / rms;
}

// The same step values, tokens shuffled: one permutation per sample, from (seed, batch, level).
torch::Tensor permuted(const torch::Tensor& step, int64_t seed, int64_t batch_index, size_t level) {
  auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(seed) * 1000003ull +
                                            static_cast<uint64_t>(batch_index) * 101ull + level);
  auto flat = step.flatten(1);
  std::vector<torch::Tensor> rows;
  for (int64_t b = 0; b < flat.size(0); ++b)
    rows.push_back(
        flat[b].index_select(0, torch::randperm(flat.size(1), gen, torch::kLong).to(flat.device())));
  return torch::stack(rows).view_as(step);
}

// Δ·round(F/Δ); a token with Δ = 0 passes unchanged.
torch::Tensor quantize(const torch::Tensor& f, const torch::Tensor& step) {
  auto safe = torch::where(step > 0, step, torch::ones_like(step));
  return torch::where(step > 0, safe * torch::round(f / safe), f);
}

// The steps base·2^(q/8) of log-step indices q, shaped like `like`.
torch::Tensor steps_of(const std::vector<int32_t>& q, float base, const torch::Tensor& like) {
  std::vector<float> s(q.size());
  for (size_t i = 0; i < q.size(); ++i) s[i] = codec::token_step(base, q[i]);
  return torch::from_blob(s.data(), like.sizes(), torch::kFloat)
      .clone()
      .to(like.device(), like.scalar_type());
}

// The steps a bitstream can carry: q = codec::log_step_index(Δ, base, stride) (the one definition
// the codec's tests check), and base·2^(q/8).
torch::Tensor signalled(const torch::Tensor& step, float base, int32_t stride, std::vector<int32_t>* q) {
  const auto s = step.to(torch::kCPU, torch::kFloat).contiguous();
  const float* v = s.data_ptr<float>();
  q->resize(static_cast<size_t>(s.numel()));
  for (size_t i = 0; i < q->size(); ++i) (*q)[i] = codec::log_step_index(v[i], base, stride);
  return steps_of(*q, base, step);
}

}  // namespace

struct TokenQuantization::State {
  plugins::Estimator est{nullptr};
  torch::Tensor totals;
  CodecTally tally;
};

TokenQuantization::TokenQuantization(const Params& p, Guide guide)
    : guide_(guide),
      sigma_q_(p.real("sigma_q")),
      seed_(p.integer("seed")),
      eps_(p.real("eps")),
      floor_(p.real("floor")),
      codec_(p.flag("codec")),
      step_block_(p.integer("step_block")),
      steps_per_octave_(p.integer("steps_per_octave")),
      state_(std::make_unique<State>()) {
  if (codec_ && guide_ != Guide::uniform && floor_ <= 0)
    throw std::invalid_argument(
        "codec mode needs floor > 0: a bitstream cannot carry a token at full precision");
  if (codec_ && !(sigma_q_ > 0))
    throw std::invalid_argument("codec mode needs sigma_q > 0: a bitstream cannot carry unquantized features");
  if (8 % steps_per_octave_ != 0)
    throw std::invalid_argument("steps_per_octave must be 1, 2, 4 or 8 (the codec's log-steps are eighths of an octave)");
}

TokenQuantization::~TokenQuantization() = default;

void TokenQuantization::begin_evaluation(Backbone&, Task&, RunContext& ctx) {
  if (guide_ != Guide::uniform) state_->est = plugins::load_estimator(ctx, ctx.device());
  ctx_ = &ctx;
}

Features TokenQuantization::apply(const Features& clean, const ApplyInfo& info) {
  Features out = clean;
  Features j;
  if (guide_ != Guide::uniform) j = state_->est->forward(clean);
  const float base = static_cast<float>(std::sqrt(12.0) * sigma_q_);
  codec::Stream stream;
  stream.method = guide_ == Guide::featjnd  ? codec::Method::guided
                  : guide_ == Guide::random ? codec::Method::random
                                            : codec::Method::uniform;
  stream.step = base;
  stream.step_block = static_cast<uint8_t>(step_block_);
  stream.step_stride = static_cast<uint8_t>(8 / steps_per_octave_);
  std::vector<torch::Tensor> steps;
  for (size_t i = 0; i < out.levels.size(); ++i) {
    const auto& f = clean.levels[i];
    torch::Tensor step, floored;
    if (guide_ == Guide::uniform) {
      step = torch::full({f.size(0), 1, f.size(2), f.size(3)}, base, f.options());
      floored = torch::zeros_like(step, torch::kBool);
    } else {
      auto map = guided_steps(f, j.levels[i], sigma_q_, eps_, floor_, step_block_, &floored);
      if (guide_ == Guide::random) map = permuted(map, seed_, info.batch_index, i);
      if (codec_) {
        stream.log_steps.emplace_back();
        map = signalled(map, base, stream.step_stride, &stream.log_steps.back());
      }
      step = expanded(map, f.size(2), f.size(3), step_block_);
    }
    steps.push_back(step);
    if (codec_) {  // the symbols in one pass on the CPU; the level is what the decoder reads
      auto coded = quant::token_symbols(f, step);
      auto opt = torch::TensorOptions().dtype(torch::kFloat64).device(f.device());
      count(f, step, floored, torch::tensor(coded.zeros, opt), torch::tensor(coded.squared_error, opt));
      stream.shapes.push_back(quant::shape_of(f));
      stream.symbols.push_back(std::move(coded.symbols));
      continue;
    }
    out.levels[i] = quantize(f, step);
    count(f, step, floored, (out.levels[i].eq(0) & step.gt(0).expand_as(f)).sum().to(torch::kFloat64),
          (out.levels[i] - f).to(torch::kFloat64).pow(2).sum());
  }
  if (codec_) code(out, steps, stream, info);
  return out;
}

std::map<std::string, double> TokenQuantization::evaluation_metrics() {
  auto t = state_->totals.cpu();
  const double tokens = std::max(1.0, t[0].item<double>()), elements = std::max(1.0, t[3].item<double>());
  std::map<std::string, double> m = {
      {"quant.unquantized_share", t[1].item<double>() / tokens},
      {"quant.floored_share", t[2].item<double>() / tokens},
      {"quant.zero_share", t[4].item<double>() / elements},
      {"quant.rmse", std::sqrt(t[5].item<double>() / elements)},
      {"quant.rmse_over_sigma_q", sigma_q_ > 0 ? std::sqrt(t[5].item<double>() / elements) / sigma_q_ : 0.0}};
  if (codec_) m.merge(state_->tally.metrics());
  return m;
}

// The batch through a bitstream: the symbols and steps encoded and decoded, and the features the
// task sees dequantized from what the decoder read, which must be what was encoded (or the run
// fails).
void TokenQuantization::code(Features& out, const std::vector<torch::Tensor>& steps, const codec::Stream& stream,
                             const ApplyInfo& info) {
  auto decoded = quant::round_trip(stream, info.pixels, state_->tally, ctx_);
  for (size_t i = 0; i < out.levels.size(); ++i) {
    if (decoded.symbols[i] != stream.symbols[i] || (!stream.log_steps.empty() && decoded.log_steps[i] != stream.log_steps[i]))
      throw std::runtime_error(fmt::format("codec: level {} decodes to other symbols or steps than were encoded", i));
    // The decoder's steps, from what it read alone.
    const auto& sh = decoded.shapes[i];
    const uint32_t k = decoded.step_block;
    const auto hb = static_cast<int64_t>(sh.block_rows(k)), wb = static_cast<int64_t>(sh.block_cols(k));
    auto step = decoded.log_steps.empty()
                    ? torch::full_like(steps[i], decoded.step)
                    : expanded(steps_of(decoded.log_steps[i], decoded.step, torch::empty({sh.n, 1, hb, wb}, steps[i].options())),
                               sh.h, sh.w, k);
    const auto& like = out.levels[i];
    out.levels[i] = quant::token_dequantized(decoded.symbols[i], step, sh).to(like.device(), like.scalar_type());
  }
}

// Tokens, tokens at full precision, floored tokens, elements, zero symbols, squared error —
// summed on the device, read once at the end.
void TokenQuantization::count(const torch::Tensor& f, const torch::Tensor& step, const torch::Tensor& floored,
                              const torch::Tensor& zeros, const torch::Tensor& squared_error) {
  auto opt = torch::TensorOptions().dtype(torch::kFloat64).device(f.device());
  auto sums = torch::stack({torch::tensor(double(step.numel()), opt), step.eq(0).sum().to(opt.dtype()),
                            floored.sum().to(opt.dtype()), torch::tensor(double(f.numel()), opt),
                            zeros.to(opt), squared_error.to(opt)});
  state_->totals = state_->totals.defined() ? state_->totals + sums : sums;
}

// One table per guide: a parameter a guide does not use affects no stage (stages 0), so it is not
// part of a run's identity and a sweep over it is refused (quant-uniform's seed would otherwise
// make identical runs); the names stay valid in every spec.
namespace {
constexpr uint32_t kEval = FEATJND_STAGE_EVALUATE;
constexpr featjnd_param_info sigma_q() {
  return featjnd::param("sigma_q", "float", "0.1", "noise budget σ_q: mean_t(Δ_t²)/12 = σ_q²", kEval, 0, 1e6);
}
constexpr featjnd_param_info seed(uint32_t stages) {
  return featjnd::param("seed", "int", "0", "permutation seed (quant-random only)", stages, 0, 1e12);
}
constexpr featjnd_param_info eps(uint32_t stages) {
  return featjnd::param("eps", "float", "1e-8", "ε in τ_t = ‖J_t‖ / (‖F_t‖ + ε) (not quant-uniform)", stages, 0, 1);
}
constexpr featjnd_param_info floor_param(uint32_t stages) {
  return featjnd::param("floor", "float", "0.05",
                        "φ: the tolerance map is floored at φ·its mean, so no token keeps full precision (0: the "
                        "paper's unfloored map; not quant-uniform)",
                        stages, 0, 1);
}
constexpr featjnd_param_info step_block(uint32_t stages) {
  return featjnd::param("step_block", "int", "1",
                        "one step per step_block × step_block tokens (the block's mean tolerance; 1: per token; not "
                        "quant-uniform)",
                        stages, 1, 64);
}
constexpr featjnd_param_info steps_per_octave(uint32_t stages) {
  // 2 by default: on the offline classifiers (experiments/ablation_side_info.json) half-octave
  // steps reached equal accuracy with fewer bits than eighths (BD-rate −29 % PVTv2, −41 % Swin)
  // and than one uniform step (−17 %, −36 %); blocks of tokens did not help on both (README "Side
  // information").
  return featjnd::param("steps_per_octave", "int", "2",
                        "codec mode: signalled steps are base·2^(k/steps_per_octave), 1, 2, 4 or 8 (not quant-uniform)",
                        stages, 1, 8);
}
constexpr featjnd_param_info codec_param() {
  return featjnd::param("codec", "bool", "false",
                        "code each batch to a bitstream (steps as base·2^(q/8), rANS) and evaluate the decoded "
                        "features; records codec.bytes, codec.bpp, codec.bits_per_element, codec.side_share and times",
                        kEval);
}
}  // namespace

const featjnd_param_info kGuidedParams[kTokenQuantizationParamCount] = {
    sigma_q(), seed(0), eps(kEval), floor_param(kEval), step_block(kEval), steps_per_octave(kEval), codec_param()};
const featjnd_param_info kRandomParams[kTokenQuantizationParamCount] = {
    sigma_q(), seed(kEval), eps(kEval), floor_param(kEval), step_block(kEval), steps_per_octave(kEval), codec_param()};
const featjnd_param_info kUniformParams[kTokenQuantizationParamCount] = {
    sigma_q(), seed(0), eps(0), floor_param(0), step_block(0), steps_per_octave(0), codec_param()};

}  // namespace featjnd::quant
