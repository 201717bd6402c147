// Token-wise quantization at a matched noise budget (token_quantization.cpp): one implementation,
// three plugins, which differ only in where each token's step comes from.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "codec/bitstream.h"
#include "featjnd/plugin.h"

namespace featjnd::quant {

enum class Guide {
  featjnd,  // quant-featjnd: steps from the FeatJND tolerance map
  random,   // quant-random: the same step values permuted over the tokens
  uniform,  // quant-uniform: one step
};

class TokenQuantization : public Distortion {
 public:
  TokenQuantization(const Params& p, Guide guide);
  ~TokenQuantization() override;
  void begin_evaluation(Backbone&, Task&, RunContext& ctx) override;
  Features apply(const Features& clean, const ApplyInfo& info) override;
  std::map<std::string, double> evaluation_metrics() override;

 private:
  struct State;  // the estimator, the running totals, the codec's tally
  void code(Features& out, const std::vector<torch::Tensor>& steps, const codec::Stream& stream,
            const ApplyInfo& info);
  void count(const torch::Tensor& f, const torch::Tensor& step, const torch::Tensor& floored,
             const torch::Tensor& zeros, const torch::Tensor& squared_error);

  Guide guide_;
  double sigma_q_;
  int64_t seed_;
  double eps_, floor_;
  bool codec_;
  int64_t step_block_, steps_per_octave_;
  std::unique_ptr<State> state_;
  RunContext* ctx_ = nullptr;
};

// What FEATJND_PLUGIN constructs: the guide fixed by the plugin.
template <Guide G>
class TokenQuantizationWith : public TokenQuantization {
 public:
  explicit TokenQuantizationWith(const Params& p) : TokenQuantization(p, G) {}
};

inline constexpr size_t kTokenQuantizationParamCount = 7;
// The parameters of each guide (those a guide does not use affect no stage).
extern const featjnd_param_info kGuidedParams[kTokenQuantizationParamCount];
extern const featjnd_param_info kRandomParams[kTokenQuantizationParamCount];
extern const featjnd_param_info kUniformParams[kTokenQuantizationParamCount];

}  // namespace featjnd::quant
