// Test-only task: a 4-class problem on synthetic 8×8 images (the class is a texture),
// with a global-average-pool + linear head, trained for real in the prepare stage.
#include <torch/torch.h>

#include "execution_log.h"
#include "featjnd/plugin.h"

namespace {

struct HeadImpl : torch::nn::Module {
  HeadImpl(int64_t in, int64_t classes) { fc = register_module("fc", torch::nn::Linear(in, classes)); }
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(Head);

class SyntheticData : public featjnd::DataSource {
 public:
  SyntheticData(int64_t n, uint64_t seed, int64_t batch, bool shuffle) : batch_(batch), shuffle_(shuffle) {
    auto gen = at::detail::createCPUGenerator(seed);
    labels_ = torch::randint(0, 4, {n}, gen, torch::kLong);
    images_ = 0.3 * torch::randn({n, 1, 8, 8}, gen);
    // Class patterns a 3x3 conv can tell apart after global pooling: horizontal stripes,
    // vertical stripes, a checkerboard, a flat offset.
    auto r = torch::arange(8).view({8, 1}).expand({8, 8});
    auto c = torch::arange(8).view({1, 8}).expand({8, 8});
    std::vector<torch::Tensor> patterns = {(r % 2).to(torch::kFloat), (c % 2).to(torch::kFloat),
                                           ((r + c) % 2).to(torch::kFloat), torch::full({8, 8}, 0.5)};
    for (int64_t i = 0; i < n; ++i) images_[i][0] += patterns[static_cast<size_t>(labels_[i].item<int64_t>())];
  }
  int64_t size() const override { return labels_.size(0); }
  void reset(uint64_t epoch_seed) override {
    pos_ = 0;
    order_ = shuffle_ ? torch::randperm(size(), at::detail::createCPUGenerator(epoch_seed), torch::kLong)
                      : torch::arange(size(), torch::kLong);
  }
  std::optional<featjnd::Batch> next() override {
    if (pos_ >= size()) return std::nullopt;
    auto idx = order_.slice(0, pos_, std::min(pos_ + batch_, size()));
    pos_ += batch_;
    featjnd::Batch b;
    b.images = images_.index_select(0, idx);
    b.targets["labels"] = labels_.index_select(0, idx);
    return b;
  }

 private:
  torch::Tensor images_, labels_, order_;
  int64_t batch_, pos_ = 0;
  bool shuffle_;
};

class Accuracy : public featjnd::Evaluator {
 public:
  void reset() override { correct_ = total_ = 0; }
  void digest(const featjnd::TensorMap& out, const featjnd::Batch& b) override {
    auto pred = out.at("logits").argmax(1);
    correct_ += pred.eq(b.targets.at("labels")).sum().item<int64_t>();
    total_ += b.size();
  }
  std::map<std::string, double> results() override {
    return {{"top1", total_ ? double(correct_) / double(total_) : 0.0}};
  }

 private:
  int64_t correct_ = 0, total_ = 0;
};

class ToyClassify : public featjnd::Task {
 public:
  explicit ToyClassify(const featjnd::Params& p)
      : params_(p.json()), samples_(p.integer("samples")), epochs_(p.integer("epochs")), batch_(p.integer("batch_size")),
        lr_(p.real("lr")), temperature_(p.real("temperature")) {}

  void attach(featjnd::Backbone& backbone, featjnd::RunContext& ctx) override {
    torch::NoGradGuard g;
    auto f = backbone.forward(torch::zeros({1, 1, 8, 8}, ctx.device()));
    head_ = Head(f.levels.at(0).size(1), 4);
  }
  torch::nn::Module& head_module() override { return *head_; }
  std::unique_ptr<featjnd::DataSource> data(featjnd::Split split, featjnd::RunContext& ctx) override {
    bool train = split == featjnd::Split::train;
    // The evaluation set has its own fixed seed: it must not change with the run's seed.
    return std::make_unique<SyntheticData>(train ? samples_ : samples_ / 2, train ? ctx.seed() + 1 : 12345, batch_,
                                           train);
  }
  void prepare(featjnd::Backbone& backbone, featjnd::RunContext& ctx) override {
    auto data = this->data(featjnd::Split::train, ctx);
    std::vector<torch::Tensor> params = backbone.module().parameters();
    for (auto& p : head_->parameters()) params.push_back(p);
    torch::optim::Adam opt(params, torch::optim::AdamOptions(lr_));
    int64_t step = 0, steps = epochs_ * ((data->size() + batch_ - 1) / batch_);
    for (int64_t e = 0; e < epochs_; ++e) {
      data->reset(ctx.seed() + static_cast<uint64_t>(e));
      while (auto b = data->next()) {
        auto logits = head(backbone.forward(b->images.to(ctx.device()))).at("logits");
        auto loss = torch::nn::functional::cross_entropy(logits, b->targets.at("labels").to(ctx.device()));
        opt.zero_grad();
        loss.backward();
        opt.step();
        ctx.log_metric("train.loss", loss.item<double>(), step++);
        ctx.progress(step, steps, "training");
      }
    }
    toy::log_execution("prepare toy-classify", backbone.module(), *head_, params_);  // the trained network
  }
  featjnd::TensorMap head(const featjnd::Features& f) override {
    return {{"logits", head_->fc(f.levels.at(0).mean({2, 3}))}};
  }
  torch::Tensor discrepancy(const featjnd::TensorMap& clean, const featjnd::TensorMap& distorted) override {
    const double t = temperature_;
    auto p = torch::log_softmax(clean.at("logits") / t, 1);
    auto q = torch::log_softmax(distorted.at("logits") / t, 1);
    return t * t * (p.exp() * (p - q)).sum(1).mean();
  }
  std::unique_ptr<featjnd::Evaluator> evaluator() override { return std::make_unique<Accuracy>(); }

 private:
  nlohmann::json params_;
  int64_t samples_, epochs_, batch_;
  double lr_, temperature_;
  Head head_{nullptr};
};

const featjnd_param_info kParams[] = {
    featjnd::param("samples", "int", "256", "training samples", FEATJND_STAGE_ALL, 8, 1e6),
    featjnd::param("epochs", "int", "3", "training epochs", FEATJND_STAGE_PREPARE, 0, 1000),
    featjnd::param("batch_size", "int", "32", "batch size", FEATJND_STAGE_ALL, 1, 4096),
    featjnd::param("lr", "float", "0.01", "Adam learning rate", FEATJND_STAGE_PREPARE, 0, 1),
    featjnd::param("temperature", "float", "1.0", "KL temperature T", FEATJND_STAGE_FIT | FEATJND_STAGE_EVALUATE,
                   1e-3, 100),
    featjnd::param("note", "string", "\"a\"", "a string choice, for the validator's tests", FEATJND_STAGE_ALL,
                   -HUGE_VAL, HUGE_VAL, "a|b"),
};

}  // namespace

FEATJND_PLUGIN("task", "toy-classify", "1.0", "test task: 4-class synthetic 8x8 images", kParams, ToyClassify)
