// The field's feature anchor (CompressAI-Vision, MPEG Feature Coding for Machines), coded with the
// engine's entropy coder so that rate curves can be read against theirs: every feature level
// min–max quantized to N bits with one global range — q = ⌊clamp((x − lo)/(hi − lo), 0, 1)·(2^N − 1)⌋,
// x̂ = lo + q·(hi − lo)/(2^N − 1) — the range measured once on a calibration set from the training
// split and sent as two float32 numbers.
#include <torch/torch.h>

#include "feature_codec.h"
#include "featjnd/plugin.h"

namespace {

using namespace featjnd;

class MinMaxQuantization : public Distortion {
 public:
  explicit MinMaxQuantization(const Params& p)
      : bits_(p.integer("bits")), calibration_(p.integer("calibration_samples")), codec_(p.flag("codec")) {}

  void begin_evaluation(Backbone& backbone, Task& task, RunContext& ctx) override {
    torch::NoGradGuard no_grad;
    auto data = task.data(Split::train, ctx);
    data->reset(12345);
    int64_t seen = 0;
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    while (seen < calibration_) {
      auto b = data->next();
      if (!b) break;
      for (auto& l : backbone.features(*b, ctx.device()).levels) {
        lo = std::min(lo, l.min().item<double>());
        hi = std::max(hi, l.max().item<double>());
      }
      seen += b->size();
    }
    if (!seen) throw std::runtime_error("quant-minmax: empty calibration set");
    low_ = static_cast<float>(lo), high_ = static_cast<float>(hi > lo ? hi : lo + 1);
    ctx.log_metric("minmax.low", low_, 0);
    ctx.log_metric("minmax.high", high_, 0);
    ctx_ = &ctx;
  }

  Features apply(const Features& clean, const ApplyInfo& info) override {
    Features out = clean;
    codec::Stream stream;
    stream.method = codec::Method::minmax;
    stream.low = low_, stream.high = high_, stream.bits = static_cast<uint8_t>(bits_);
    std::vector<torch::Tensor> codes;
    for (size_t i = 0; i < out.levels.size(); ++i) {
      const auto& f = clean.levels[i];
      codes.push_back(torch::floor(((f - low_) / (high_ - low_)).clamp(0, 1) * levels()));
      out.levels[i] = value_of(codes.back());
      stream.shapes.push_back(quant::shape_of(f));
      stream.symbols.push_back(quant::to_symbols(codes.back()));
      error_ += (out.levels[i] - f).to(torch::kDouble).pow(2).sum().item<double>();
      elements_ += double(f.numel());
    }
    if (!codec_) return out;
    auto decoded = quant::round_trip(stream, info.pixels, tally_, ctx_);
    for (size_t i = 0; i < out.levels.size(); ++i) {
      auto decoded_level = value_of(quant::from_symbols(decoded.symbols[i], codes[i]));
      quant::check_bit_exact(decoded_level, out.levels[i], i);
      out.levels[i] = decoded_level;
    }
    return out;
  }

  std::map<std::string, double> evaluation_metrics() override {
    std::map<std::string, double> m = {{"quant.rmse", elements_ > 0 ? std::sqrt(error_ / elements_) : 0.0}};
    if (codec_) m.merge(tally_.metrics());
    return m;
  }

 private:
  double levels() const { return double((int64_t(1) << bits_) - 1); }
  torch::Tensor value_of(const torch::Tensor& code) const {
    return low_ + code * static_cast<float>((double(high_) - double(low_)) / levels());
  }

  int64_t bits_, calibration_;
  bool codec_;
  float low_ = 0, high_ = 1;
  double error_ = 0, elements_ = 0;
  quant::CodecTally tally_;
  RunContext* ctx_ = nullptr;
};

constexpr uint32_t kEval = FEATJND_STAGE_EVALUATE;
const featjnd_param_info kParams[] = {
    featjnd::param("bits", "int", "10", "N: bits per feature value (CompressAI-Vision's anchor: 10)", kEval, 1, 16),
    featjnd::param("calibration_samples", "int", "2048", "training samples the global range is measured on", kEval, 1, 1e9),
    featjnd::param("codec", "bool", "false",
                   "code each batch to a bitstream (rANS, engine/codec) and evaluate the decoded features", kEval),
};

}  // namespace

FEATJND_PLUGIN("distortion", "quant-minmax", "1.0",
               "min-max uniform quantization of all levels to N bits with one global range (the FCM/CompressAI-Vision "
               "feature anchor)",
               kParams, MinMaxQuantization)
