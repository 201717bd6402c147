// The C++ interfaces a plugin implements and the context the engine hands to it.
//
// The split follows CompressAI-Vision's two halves: a Backbone maps images to the features at
// the split point, a Task maps features to outputs, metrics and a discrepancy; a Distortion maps
// features to distorted features. Features are a list of levels so that one interface carries a
// classification feature (one B×C×H×W tensor) and the five FPN levels of a detector.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

namespace featjnd {

enum class Stage { prepare, fit, evaluate };
enum class Split { train, eval };

struct Features {
  Features() = default;
  Features(std::vector<torch::Tensor> l, std::vector<std::string> n, torch::Tensor sizes = {})
      : levels(std::move(l)), names(std::move(n)), image_sizes(std::move(sizes)) {}

  std::vector<torch::Tensor> levels;  // each B×C×H×W
  std::vector<std::string> names;     // "out" for one level, "0".."3","pool" for an FPN
  // B×2 (height, width) of each image before the batch was padded to one size (COCO's variable
  // sizes); undefined when every image fills the batch. A detector clips its boxes to these.
  torch::Tensor image_sizes;

  int64_t batch_size() const { return levels.empty() ? 0 : levels.front().size(0); }
};

using TensorMap = std::map<std::string, torch::Tensor>;

struct Batch {
  torch::Tensor images;            // B×C×H×W, already normalised
  TensorMap targets;               // batch-shaped targets ("labels": B; "image_sizes": B×2 when padded)
  std::vector<TensorMap> instances;  // per-image targets of variable size (boxes, masks)
  int64_t size() const { return images.defined() ? images.size(0) : 0; }
};

// Implemented by the engine; lets a plugin report without knowing about the database.
class RunContext {
 public:
  virtual ~RunContext() = default;
  virtual torch::Device device() const = 0;
  virtual uint64_t seed() const = 0;
  // Buffered and written to the results store in batched transactions.
  virtual void log_metric(const std::string& key, double value, int64_t step = 0) = 0;
  virtual void progress(int64_t done, int64_t total, const std::string& note = {}) = 0;
  // A fresh path for an artifact of this run; call add_artifact once the file is complete, so a
  // crash never leaves a half-written file registered.
  virtual std::string artifact_path(const std::string& name) = 0;
  virtual void add_artifact(const std::string& name, const std::string& kind) = 0;
  // Path of an artifact produced by one of this run's dependencies; throws if there is none.
  virtual std::string input_artifact(const std::string& name) const = 0;
  virtual bool has_input_artifact(const std::string& name) const = 0;
};

class Component {
 public:
  virtual ~Component() = default;
};

class Backbone : public Component {
 public:
  virtual torch::nn::Module& module() = 0;
  // Images to the features at the split point.
  virtual Features forward(const torch::Tensor& images) = 0;
  // The features of a batch on `device`, carrying the images' own sizes when the batch is padded.
  Features features(const Batch& batch, torch::Device device) {
    Features f = forward(batch.images.to(device));
    if (auto it = batch.targets.find("image_sizes"); it != batch.targets.end()) f.image_sizes = it->second;
    return f;
  }
  // What the backbone computes after the split point: when the split is inside the backbone
  // (ResNet cut before layer4), the rest joins the task's head, which calls this first.
  virtual Features tail(const Features& split_features) { return split_features; }
  // Pretrained weights of the whole network (backbone and the task's head, torchvision/timm
  // state-dict names) that the task's prepare stage loads instead of training; empty: none.
  virtual std::string weights_path() const { return {}; }
  virtual bool weights_strict() const { return true; }
  // Where a classifier's head sits in such a file: torchvision ResNets "fc.", Swin "head.".
  virtual std::string classifier_prefix() const { return "fc."; }
  // A packaged model (tools/export_model.py) brings the network after its split as well: the
  // classification task then takes its logits instead of building a head of its own.
  virtual bool has_classifier() const { return false; }
  virtual torch::Tensor classify(const Features& split_features) {
    (void)split_features;
    throw std::runtime_error("this backbone brings no classifier");
  }
  // The evaluation transform the network was trained with, as JSON of plugins/common/preprocess.h's
  // fields, when the backbone carries it (a package); empty: the weights' metadata decide.
  virtual std::string preprocess_recipe() const { return {}; }
  // Every stage's output (B×C×H×W, strides 4 to 32), what an FPN neck consumes.
  virtual Features forward_stages(const torch::Tensor& images) {
    (void)images;
    throw std::runtime_error("this backbone does not expose its stage outputs");
  }
};

class DataSource {
 public:
  virtual ~DataSource() = default;
  virtual int64_t size() const = 0;          // samples
  virtual void reset(uint64_t epoch_seed) = 0;  // start a pass; shuffles when training
  virtual std::optional<Batch> next() = 0;
};

// reset / digest / results, as CompressAI-Vision's evaluators.
class Evaluator {
 public:
  virtual ~Evaluator() = default;
  virtual void reset() = 0;
  virtual void digest(const TensorMap& outputs, const Batch& batch) = 0;
  virtual std::map<std::string, double> results() = 0;
};

class Task : public Component {
 public:
  // Builds the head for this backbone's features (may run one probe forward).
  virtual void attach(Backbone& backbone, RunContext& ctx) = 0;
  virtual torch::nn::Module& head_module() = 0;
  virtual std::unique_ptr<DataSource> data(Split split, RunContext& ctx) = 0;
  // Loads weights or trains backbone and head together (the "prepare" stage).
  virtual void prepare(Backbone& backbone, RunContext& ctx) = 0;
  virtual TensorMap head(const Features& features) = 0;
  // The head on distorted features for the discrepancy, reusing what the clean pass decided:
  // a detector's proposals and RoIs come from the clean features (PAPER.md), so that D compares
  // outputs for the same regions. By default, the plain head.
  virtual TensorMap head_distorted(const Features& distorted, const TensorMap& clean) {
    (void)clean;
    return head(distorted);
  }
  // D(h(F), h(F')) of PAPER.md: differentiable with respect to the distorted side.
  virtual torch::Tensor discrepancy(const TensorMap& clean, const TensorMap& distorted) = 0;
  // What an attribution method explains: one scalar per input, differentiable in `features`,
  // which hold K versions of one image whose clean outputs are `clean` (a batch of one). A
  // classifier: the logit of the class predicted on the clean image; a detector: the class score
  // of its top clean detection, recomputed over that detection's box.
  virtual torch::Tensor attribution_target(const Features& features, const TensorMap& clean) {
    (void)features;
    (void)clean;
    throw std::runtime_error("this task defines no attribution target");
  }
  virtual std::unique_ptr<Evaluator> evaluator() = 0;
};

struct ApplyInfo {
  int64_t batch_index = 0;  // lets seeded noise differ per batch yet repeat run to run
  uint64_t seed = 0;
  double pixels = 0;  // the batch's input pixels (each image's own size): a codec's bits per pixel
};

class Distortion : public Component {
 public:
  virtual bool trainable() const { return false; }
  // The "fit" stage: trains against the frozen backbone and task; writes its own artifacts.
  virtual void fit(Backbone&, Task&, RunContext&) {}
  // Called before an evaluation with the fitted state available as input artifacts.
  virtual void begin_evaluation(Backbone&, Task&, RunContext&) {}
  virtual Features apply(const Features& clean, const ApplyInfo& info) = 0;
  // What the distortion measured over the evaluation (a quantizer's share of tokens left at full
  // precision, say); recorded beside the task's metrics. Called once, after the last apply().
  virtual std::map<std::string, double> evaluation_metrics() { return {}; }
};

}  // namespace featjnd
