// Image classification: head = global average pool + linear (torchvision's `fc`), metrics top-1
// and top-5, discrepancy D = T²·KL(softmax(z/T) ‖ softmax(z′/T)) (PAPER.md).
#include <cmath>
#include <fstream>

#include <fmt/format.h>
#include <torch/torch.h>

#include "datasets.h"
#include "featjnd/plugin.h"
#include "featjnd_plugins/safetensors.h"
#include "featjnd_plugins/training.h"

namespace {

using namespace featjnd;
using classification::DatasetInfo;

// torchvision's `fc`; none when the backbone brings its own classifier (a model package).
struct HeadImpl : torch::nn::Module {
  HeadImpl() = default;
  HeadImpl(int64_t in, int64_t classes) { fc = register_module("fc", torch::nn::Linear(in, classes)); }
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(Head);

class TopK : public Evaluator {
 public:
  void reset() override { top1_ = top5_ = total_ = 0; }
  void digest(const TensorMap& out, const Batch& b) override {
    const auto& logits = out.at("logits");
    auto labels = b.targets.at("labels").to(logits.device()).view({-1, 1});
    int64_t k = std::min<int64_t>(5, logits.size(1));
    auto top = std::get<1>(logits.topk(k, 1));
    auto hit = top.eq(labels);
    top1_ += hit.select(1, 0).sum().item<int64_t>();
    top5_ += hit.any(1).sum().item<int64_t>();
    total_ += b.size();
  }
  std::map<std::string, double> results() override {
    double n = static_cast<double>(std::max<int64_t>(total_, 1));
    return {{"top1", double(top1_) / n}, {"top5", double(top5_) / n}};
  }

 private:
  int64_t top1_ = 0, top5_ = 0, total_ = 0;
};

class Classification : public Task {
 public:
  explicit Classification(const Params& p) : p_(p) {
    opt_.kind = p.text("dataset");
    opt_.root = p.text("root");
    opt_.channels = p.integer("channels");
    opt_.workers = p.integer("workers");
  }

  void attach(Backbone& backbone, RunContext& ctx) override {
    backbone_ = &backbone;
    // The weights' own evaluation transform (their metadata), else torchvision's; the spec's
    // fields override either.
    auto base = plugins::Preprocess::named("torchvision");
    if (const auto recipe = backbone.preprocess_recipe(); !recipe.empty())
      base = plugins::Preprocess().with(nlohmann::json::parse(recipe), "the backbone's package");
    opt_.preprocess = plugins::preprocess_of_weights(backbone.weights_path(), base).with(p_.at("preprocess"), "classification");
    // Probe the feature width after the split (and after the backbone's tail, if any).
    DatasetInfo info;
    auto probe = data_source(Split::eval, 1, 1, false, info);
    probe->reset(0);
    auto b = probe->next();
    if (!b) throw std::runtime_error("the evaluation split is empty");
    torch::NoGradGuard no_grad;
    bool was_training = backbone.module().is_training();
    backbone.module().eval();
    auto f = backbone.tail(backbone.forward(b->images.to(ctx.device())));
    if (backbone.has_classifier()) {
      check_classes(backbone.classify(f).size(1), info.num_classes);
      head_ = Head();
    } else {
      head_ = Head(f.levels.at(0).size(1), classes(backbone, info.num_classes));
    }
    backbone.module().train(was_training);
    head_->to(ctx.device());
  }

  torch::nn::Module& head_module() override { return *head_; }

  std::unique_ptr<DataSource> data(Split split, RunContext& ctx) override {
    if (opt_.kind == "imagefolder") record_preprocess(ctx);
    DatasetInfo info;
    bool train = split == Split::train;
    return data_source(split, p_.integer(train ? "train_samples" : "eval_samples"), p_.integer("batch_size"), train,
                       info);
  }

  void prepare(Backbone& backbone, RunContext& ctx) override {
    if (backbone.has_classifier()) return;  // the package holds the trained network
    if (!backbone.weights_path().empty()) return load_weights(backbone);
    train(backbone, ctx);
  }

  TensorMap head(const Features& f) override {
    if (backbone_->has_classifier()) return {{"logits", backbone_->classify(f)}};
    auto x = backbone_->tail(f).levels.at(0);
    return {{"logits", head_->fc(x.mean({2, 3}))}};
  }

  torch::Tensor discrepancy(const TensorMap& clean, const TensorMap& distorted) override {
    return plugins::softmax_kl(clean.at("logits"), distorted.at("logits"), p_.real("temperature"));
  }

  torch::Tensor attribution_target(const Features& f, const TensorMap& clean) override {
    const int64_t predicted = clean.at("logits")[0].argmax().item<int64_t>();
    return head(f).at("logits").select(1, predicted);
  }

  std::unique_ptr<Evaluator> evaluator() override { return std::make_unique<TopK>(); }

 private:
  std::unique_ptr<DataSource> data_source(Split split, int64_t limit, int64_t batch, bool augment,
                                          DatasetInfo& info) {
    auto o = opt_;
    o.limit = limit;
    o.batch_size = batch;
    o.augment = augment;
    if (o.kind == "fashion-mnist") return classification::make_fashion_mnist(o, split, info);
    return classification::make_imagefolder(o, split, info);
  }

  // The run records the transform its images went through (artifact preprocess.json).
  void record_preprocess(RunContext& ctx) const {
    const auto path = ctx.artifact_path("preprocess.json");
    std::ofstream(path) << opt_.preprocess.to_json().dump(1) << "\n";
    ctx.add_artifact("preprocess.json", "json");
  }

  // The number of classes: the parameter, the checkpoint's classifier rows and the dataset's
  // classes must agree wherever they are given; one line names the two that do not.
  int64_t classes(const Backbone& backbone, int64_t in_data) const {
    const int64_t asked = p_.integer("num_classes");
    int64_t classes = asked > 0 ? asked : in_data;
    if (asked > 0 && in_data > 0 && asked != in_data)
      throw std::runtime_error(fmt::format("classification: num_classes is {} but the dataset has {} classes", asked, in_data));
    if (!backbone.weights_path().empty()) {
      const auto key = backbone.classifier_prefix() + "weight";
      auto file = plugins::SafeTensors::read_header(backbone.weights_path());
      if (file.has(key)) {
        const int64_t rows = file.shape(key).at(0);
        if (classes > 0 && rows != classes)
          throw std::runtime_error(fmt::format("classification: {} is {} but {} has {} rows in {}",
                                               asked > 0 ? "num_classes" : "the dataset's class count", classes,
                                               backbone.weights_path(), rows, key));
        classes = rows;
      }
    }
    return classes;
  }

  // A packaged classifier's width against what the spec and the dataset say.
  void check_classes(int64_t in_package, int64_t in_data) const {
    const int64_t asked = p_.integer("num_classes");
    if (asked > 0 && asked != in_package)
      throw std::runtime_error(fmt::format("classification: num_classes is {} but the package's head gives {}", asked,
                                           in_package));
    if (in_data > 0 && in_data != in_package)
      throw std::runtime_error(fmt::format("classification: the package's head gives {} classes but the dataset has {} "
                                           "(export it with --num-classes {} and weights trained on these classes)",
                                           in_package, in_data, in_data));
  }

  // torchvision classifier weights: backbone keys at the top level, the classifier's under the
  // backbone's classifier prefix ("fc." for ResNets, "head." for Swin), loaded into our `fc`.
  void load_weights(Backbone& backbone) {
    auto file = plugins::SafeTensors::read(backbone.weights_path());
    bool strict = backbone.weights_strict();
    const auto prefix = backbone.classifier_prefix();
    auto b = plugins::load_state_dict(backbone.module(), file, "", strict, {prefix});
    auto h = plugins::load_state_dict(*head_->fc, file, prefix, false);
    if (!h.missing.empty()) throw std::runtime_error(fmt::format("weights: missing key '{}'", h.missing.front()));
    for (auto& k : b.missing) std::fprintf(stderr, "weights: missing key '%s' (strict: false)\n", k.c_str());
    for (auto& k : b.unexpected) std::fprintf(stderr, "weights: unexpected key '%s' (strict: false)\n", k.c_str());
  }

  void train(Backbone& backbone, RunContext& ctx) {
    auto data = this->data(Split::train, ctx);
    std::vector<torch::Tensor> params = backbone.module().parameters();
    for (auto& t : head_->parameters()) params.push_back(t);
    const double lr = p_.real("lr"), wd = p_.real("weight_decay");
    std::unique_ptr<torch::optim::Optimizer> opt;
    if (p_.text("optimizer") == "sgd")
      opt = std::make_unique<torch::optim::SGD>(params, torch::optim::SGDOptions(lr).momentum(0.9).weight_decay(wd));
    else
      opt = std::make_unique<torch::optim::AdamW>(params, torch::optim::AdamWOptions(lr).weight_decay(wd));
    backbone.module().train();
    head_->train();
    int64_t correct = 0, seen = 0;
    plugins::TrainSettings s;
    s.epochs = p_.integer("epochs"), s.batch_size = p_.integer("batch_size"), s.lr = lr;  // cosine decay, no warm-up
    plugins::train_loop(
        *data, ctx, *opt, params, s,
        [&](const Batch& b, int64_t) {
          auto labels = b.targets.at("labels").to(ctx.device());
          auto logits = head(backbone.features(b, ctx.device())).at("logits");
          correct += logits.argmax(1).eq(labels).sum().item<int64_t>();
          seen += b.size();
          return torch::nn::functional::cross_entropy(logits, labels);
        },
        [&](int64_t epoch) {
          ctx.log_metric("train.top1", double(correct) / double(std::max<int64_t>(seen, 1)), epoch);
          correct = seen = 0;
        });
    backbone.module().eval();
    head_->eval();
  }

  Params p_;
  classification::DatasetOptions opt_;
  Backbone* backbone_ = nullptr;
  Head head_{nullptr};
};

const featjnd_param_info kParams[] = {
    featjnd::param("dataset", "string", "\"fashion-mnist\"", "fashion-mnist (IDX files) or imagefolder (ImageNet layout)",
                   FEATJND_STAGE_ALL, -HUGE_VAL, HUGE_VAL, "fashion-mnist|imagefolder"),
    featjnd::param("root", "path", "\"/usr/share/datasets/fashion-mnist\"",
                   "dataset folder (imagefolder: holds train/ and val/)"),
    featjnd::param("channels", "int", "1", "image channels given to the backbone (grey images are repeated)",
                   FEATJND_STAGE_ALL, 1, 3),
    featjnd::param("num_classes", "int", "0", "classes (0: from the dataset)", FEATJND_STAGE_ALL, 0, 1e6),
    featjnd::param("train_samples", "int", "0", "training samples used (0: all; else a fixed random subset)",
                   FEATJND_STAGE_ALL, 0, 1e9),
    featjnd::param("eval_samples", "int", "0", "evaluation samples used (0: all)", FEATJND_STAGE_ALL, 0, 1e9),
    featjnd::param("batch_size", "int", "128", "batch size", FEATJND_STAGE_ALL, 1, 65536),
    featjnd::param("preprocess", "json", "null",
                   "imagefolder: the evaluation transform, fields resize, crop, interpolation, antialias, resize_on, "
                   "size_rounding, mean, std, channel_order, pad_divisor (null: the weights' recipe from their metadata, "
                   "else torchvision's: 256, bilinear, crop 224); the fields given override it",
                   FEATJND_STAGE_ALL),
    featjnd::param("workers", "int", "4", "imagefolder: decoding threads", 0, 1, 256),
    featjnd::param("epochs", "int", "2", "training epochs when the backbone names no weights", FEATJND_STAGE_PREPARE, 0, 10000),
    featjnd::param("optimizer", "string", "\"adamw\"", "adamw or sgd (momentum 0.9); cosine learning-rate decay",
                   FEATJND_STAGE_PREPARE, -HUGE_VAL, HUGE_VAL, "adamw|sgd"),
    featjnd::param("lr", "float", "0.002", "peak learning rate", FEATJND_STAGE_PREPARE, 0, 10),
    featjnd::param("weight_decay", "float", "0.0005", "weight decay", FEATJND_STAGE_PREPARE, 0, 1),
    featjnd::param("temperature", "float", "1.0", "T of the discrepancy T²·KL", FEATJND_STAGE_FIT,
                   1e-3, 1e3),
};

}  // namespace

FEATJND_PLUGIN("task", "classification", "1.0", "image classification: GAP + linear head, top-1/top-5, T²·KL", kParams,
               Classification)
