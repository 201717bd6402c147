// Detection and instance segmentation with Mask R-CNN's heads over the backbone's FPN levels
// (the split of PAPER.md for detection). The head reports the detections and the raw RPN and
// RoI outputs; head_distorted reruns the heads on distorted features over the clean pass's
// proposals and detected boxes, so that D_det / D_seg compare outputs for the same regions.
// Metrics: COCO's 12 bbox and 12 segm statistics from engine/coco (pycocotools' semantics).
#include <fmt/format.h>
#include <torch/torch.h>

#include <cstdio>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <set>

#include "coco/evaluator.h"
#include "featjnd/plugin.h"
#include "featjnd_plugins/preprocess.h"
#include "featjnd_plugins/safetensors.h"
#include "featjnd_plugins/training.h"
#include "mask_rcnn.h"
#include "coco_source.h"
#include "scenes.h"

using namespace featjnd;
namespace det = featjnd::detection;

namespace {

std::vector<torch::Tensor> split_rows(const torch::Tensor& t, const torch::Tensor& counts) {
  std::vector<torch::Tensor> out;
  int64_t o = 0;
  auto c = counts.cpu();
  for (int64_t i = 0; i < c.size(0); ++i) {
    const int64_t n = c[i].item<int64_t>();
    out.push_back(t.slice(0, o, o + n));
    o += n;
  }
  return out;
}

torch::Tensor counts_of(const std::vector<torch::Tensor>& parts) {
  std::vector<int64_t> c;
  for (auto& p : parts) c.push_back(p.size(0));
  return torch::tensor(c, torch::kLong);
}

// An h×w uint8 mask (row-major) as COCO's column-major RLE.
coco::Rle encode_mask(const torch::Tensor& mask) {
  auto m = mask.t().contiguous();
  return coco::encode(m.data_ptr<uint8_t>(), static_cast<uint64_t>(mask.size(0)), static_cast<uint64_t>(mask.size(1)));
}

// The head's detections of a batch, per image, on the CPU.
struct BatchDetections {
  std::vector<torch::Tensor> boxes, scores, labels, probs;
};

BatchDetections split_detections(const TensorMap& out, bool masks) {
  const auto& n = out.at("det_counts");
  BatchDetections d{split_rows(out.at("boxes").cpu(), n), split_rows(out.at("scores").cpu(), n),
                    split_rows(out.at("labels").cpu(), n), {}};
  if (masks) d.probs = split_rows(out.at("mask_probs").cpu(), n);
  return d;
}

// One image's detections (boxes already in the image's coordinates) as COCO results: masks pasted
// into the h×w image and thresholded at 0.5, as torchvision's COCO evaluation does; a box result's
// area is its box's (COCO.loadRes). `category` maps a label to a category id, or −1 to drop it.
void append_results(std::vector<coco::Annotation>& dt, int64_t image_id, const torch::Tensor& boxes,
                    const torch::Tensor& scores, const torch::Tensor& labels, const torch::Tensor& probs, int64_t h,
                    int64_t w, const std::function<int64_t(int64_t)>& category) {
  torch::Tensor pasted;
  if (probs.defined()) pasted = (det::paste_masks(probs, boxes, h, w) > 0.5).to(torch::kUInt8);
  for (int64_t k = 0; k < boxes.size(0); ++k) {
    coco::Annotation d;
    d.category_id = category(labels[k].item<int64_t>());
    if (d.category_id < 0) continue;
    d.id = static_cast<int64_t>(dt.size()) + 1;
    d.image_id = image_id;
    d.score = scores[k].item<float>();
    const float x1 = boxes[k][0].item<float>(), y1 = boxes[k][1].item<float>();
    d.bbox = {x1, y1, boxes[k][2].item<float>() - x1, boxes[k][3].item<float>() - y1};
    d.area = d.bbox[2] * d.bbox[3];
    if (pasted.defined()) d.mask = encode_mask(pasted[k]);
    dt.push_back(std::move(d));
  }
}

// The 12 bbox (and 12 segm) statistics, and the mean number of detections per image.
std::map<std::string, double> coco_metrics(const coco::Dataset& gt, const std::vector<coco::Annotation>& dt, bool masks) {
  std::map<std::string, double> r;
  auto put = [&](const std::string& prefix, const coco::EvalResult& e) {
    for (size_t i = 0; i < 12; ++i) r[prefix + coco::kStatNames[i]] = e.stats[i];
  };
  put("bbox.", coco::evaluate(gt, dt, coco::IouType::bbox));
  if (masks) put("segm.", coco::evaluate(gt, dt, coco::IouType::segm));
  r["detections_per_image"] = gt.images.empty() ? 0 : double(dt.size()) / double(gt.images.size());
  return r;
}

// COCO evaluation of a stream of batches of scenes: the ground truth from the batch's instances.
class CocoEvaluator : public Evaluator {
 public:
  explicit CocoEvaluator(bool masks) : masks_(masks) { reset(); }
  void reset() override {
    gt_ = {};
    dt_.clear();
    for (int c = 1; c <= 10; ++c) gt_.categories.push_back({c, det::kFashionMnistClasses[c - 1]});
  }
  void digest(const TensorMap& out, const Batch& batch) override {
    const int64_t H = batch.images.size(2), W = batch.images.size(3);
    auto d = split_detections(out, masks_);
    for (size_t b = 0; b < batch.instances.size(); ++b) {
      const int64_t id = static_cast<int64_t>(gt_.images.size()) + 1;
      gt_.image_index[id] = gt_.images.size();
      gt_.images.push_back({id, static_cast<uint64_t>(H), static_cast<uint64_t>(W), ""});
      const auto& inst = batch.instances[b];
      auto gb = inst.at("boxes").cpu(), gm = inst.at("masks").cpu();
      auto gl = inst.at("labels").cpu();
      for (int64_t k = 0; k < gb.size(0); ++k) {
        coco::Annotation a;
        a.id = static_cast<int64_t>(gt_.annotations.size()) + 1;
        a.image_id = id;
        a.category_id = gl[k].item<int64_t>();
        const float x1 = gb[k][0].item<float>(), y1 = gb[k][1].item<float>();
        a.bbox = {x1, y1, gb[k][2].item<float>() - x1, gb[k][3].item<float>() - y1};
        a.mask = encode_mask(gm[k]);
        a.area = static_cast<double>(coco::area(*a.mask));
        gt_.annotations.push_back(std::move(a));
      }
      append_results(dt_, id, d.boxes[b], d.scores[b], d.labels[b], masks_ ? d.probs[b] : torch::Tensor(), H, W,
                     [](int64_t label) { return label; });
    }
  }
  std::map<std::string, double> results() override { return coco_metrics(gt_, dt_, masks_); }

 private:
  bool masks_;
  coco::Dataset gt_;
  std::vector<coco::Annotation> dt_;
};

// COCO 2017 evaluation against the annotation file: detections return to each image's original
// coordinates (torchvision's postprocess), masks are pasted at the original size, labels map to
// category ids (91 classes: the label is the COCO id, as torchvision's; otherwise the i-th
// category in id order, as mmdetection's contiguous labels).
class CocoFileEvaluator : public Evaluator {
 public:
  CocoFileEvaluator(std::string path, bool masks, int64_t classes) : path_(std::move(path)), masks_(masks), classes_(classes) {}
  void reset() override {
    if (!loaded_) {
      gt_ = coco::load_ground_truth(path_, masks_);
      for (auto& c : gt_.categories) cat_ids_.push_back(c.id);
      std::sort(cat_ids_.begin(), cat_ids_.end());
      loaded_ = true;
    }
    seen_.clear();
    dt_.clear();
  }
  void digest(const TensorMap& out, const Batch& batch) override {
    if (!loaded_) reset();
    auto d = split_detections(out, masks_);
    auto category = [&](int64_t label) -> int64_t {
      if (classes_ == 91) return label;
      if (label >= 1 && static_cast<size_t>(label) <= cat_ids_.size()) return cat_ids_[static_cast<size_t>(label - 1)];
      return -1;
    };
    for (size_t b = 0; b < batch.instances.size(); ++b) {
      const auto& inst = batch.instances[b];
      const int64_t id = inst.at("image_id")[0].item<int64_t>();
      const int64_t oh = inst.at("orig_size")[0].item<int64_t>(), ow = inst.at("orig_size")[1].item<int64_t>();
      auto rh = torch::tensor(float(oh)) / torch::tensor(float(inst.at("size")[0].item<int64_t>()));
      auto rw = torch::tensor(float(ow)) / torch::tensor(float(inst.at("size")[1].item<int64_t>()));
      auto bx = d.boxes[b];
      bx = torch::stack({bx.select(1, 0) * rw, bx.select(1, 1) * rh, bx.select(1, 2) * rw, bx.select(1, 3) * rh}, 1);
      seen_.insert(id);
      append_results(dt_, id, bx, d.scores[b], d.labels[b], masks_ ? d.probs[b] : torch::Tensor(), oh, ow, category);
    }
  }
  std::map<std::string, double> results() override {
    // pycocotools with params.imgIds = the evaluated images.
    coco::Dataset sub;
    sub.categories = gt_.categories;
    for (auto& im : gt_.images)
      if (seen_.count(im.id)) {
        sub.image_index[im.id] = sub.images.size();
        sub.images.push_back(im);
      }
    for (auto& a : gt_.annotations)
      if (seen_.count(a.image_id)) sub.annotations.push_back(a);
    return coco_metrics(sub, dt_, masks_);
  }

 private:
  std::string path_;
  bool masks_;
  int64_t classes_;
  bool loaded_ = false;
  coco::Dataset gt_;
  std::vector<int64_t> cat_ids_;
  std::set<int64_t> seen_;
  std::vector<coco::Annotation> dt_;
};

class Detection : public Task {
 public:
  explicit Detection(const Params& p) : p_(p) {
    coco_ = p.text("dataset") == "coco";
    so_.root = p.text("root");
    so_.size = p.integer("scene_size");
    so_.max_items = p.integer("max_items");
    so_.channels = p.integer("channels");
    so_.seed = static_cast<uint64_t>(p.integer("scene_seed"));
  }

  void attach(Backbone& backbone, RunContext& ctx) override {
    backbone_ = &backbone;
    // COCO images: the weights' own transform (their metadata), else torchvision's detection
    // transform; the spec's fields override either.
    recipe_ = plugins::preprocess_of_weights(backbone.weights_path(), plugins::Preprocess::named("torchvision-detection"))
                  .with(p_.at("preprocess"), "detection");
    auto probe = data(Split::eval, ctx);
    probe->reset(0);
    auto b = probe->next();
    if (!b) throw std::runtime_error("detection: the evaluation split is empty");
    torch::NoGradGuard no_grad;
    const bool was = backbone.module().is_training();
    backbone.module().eval();
    auto f = backbone.forward(b->images.slice(0, 0, 1).to(ctx.device()));
    backbone.module().train(was);
    if (f.levels.size() != 5)
      throw std::runtime_error(fmt::format("detection: the backbone gives {} feature levels; Mask R-CNN needs the 5 FPN "
                                           "levels (set the backbone's neck: fpn)",
                                           f.levels.size()));
    det::MaskRcnnConfig c;
    c.num_classes = classes(backbone);
    c.roi_aligned = p_.flag("roi_align_aligned");
    c.roi_sampling_ratio = p_.integer("roi_sampling_ratio");
    c.round_anchors = p_.flag("anchor_rounding");
    if (!backbone.weights_path().empty()) check_head_semantics(backbone.weights_path());
    c.channels = f.levels[0].size(1);
    c.representation = p_.integer("representation");
    c.mask_channels = p_.integer("mask_channels");
    c.masks = p_.flag("masks");
    c.anchor_sizes = p_.at("anchor_sizes").get<std::vector<double>>();
    if (c.anchor_sizes.size() != 5) throw std::runtime_error("detection: anchor_sizes needs 5 sizes, one per FPN level");
    c.pre_nms_train = p_.integer("rpn_pre_nms_train");
    c.post_nms_train = p_.integer("rpn_post_nms_train");
    c.pre_nms_test = p_.integer("rpn_pre_nms_test");
    c.post_nms_test = p_.integer("rpn_post_nms_test");
    c.rpn_batch = p_.integer("rpn_batch");
    c.roi_batch = p_.integer("roi_batch");
    c.box_score_thresh = p_.real("box_score_thresh");
    c.detections_per_img = p_.integer("detections_per_img");
    if (!coco_) {  // fixed-size scenes; COCO batches vary, and anchors follow the padded batch
      c.image_h = b->images.size(2);
      c.image_w = b->images.size(3);
    }
    heads_ = det::MaskRcnnHeads(c);
    heads_->to(ctx.device());
  }

  torch::nn::Module& head_module() override { return *heads_; }

  std::unique_ptr<DataSource> data(Split split, RunContext& ctx) override {
    if (coco_) {
      det::CocoOptions o;
      o.root = so_.root;
      o.limit = p_.integer(split == Split::train ? "train_samples" : "eval_samples");
      o.batch_size = p_.integer("batch_size");
      o.preprocess = recipe_;
      // The run records the transform its images went through.
      const auto path = ctx.artifact_path("preprocess.json");
      std::ofstream(path) << recipe_.to_json().dump(1) << "\n";
      ctx.add_artifact("preprocess.json", "json");
      return det::make_coco_source(o, split);
    }
    auto& cache = split == Split::train ? train_scenes_ : eval_scenes_;
    auto o = so_;
    o.count = p_.integer(split == Split::train ? "train_samples" : "eval_samples");
    o.batch_size = p_.integer("batch_size");
    o.augment = split == Split::train;
    if (cache.empty()) cache = det::make_scenes(o, split);
    return det::make_scene_source(cache, o);
  }

  void prepare(Backbone& backbone, RunContext& ctx) override {
    if (!backbone.weights_path().empty()) return load_weights(backbone);
    if (coco_) throw std::runtime_error("detection on COCO needs Mask R-CNN weights (the backbone's weights parameter)");
    train(backbone, ctx);
    // The evaluation scenes as a COCO instances file, for coco-eval and other tools.
    auto path = ctx.artifact_path("scenes_val.json");
    {
      std::ofstream out(path);
      out << det::scenes_coco_json(eval_scenes_.empty() ? det::make_scenes(eval_options(), Split::eval) : eval_scenes_);
    }
    ctx.add_artifact("scenes_val.json", "coco-instances");
  }

  TensorMap head(const Features& f) override {
    det::RawOutputs raw;
    auto d = heads_->detect(f.levels, &raw, f.image_sizes);
    TensorMap m;
    m["objectness"] = raw.objectness;
    m["rpn_deltas"] = raw.rpn_deltas;
    m["proposals"] = torch::cat(d.proposals);
    m["proposal_counts"] = counts_of(d.proposals);
    m["class_logits"] = raw.class_logits;
    m["box_deltas"] = raw.box_deltas;
    m["boxes"] = torch::cat(d.boxes);
    m["scores"] = torch::cat(d.scores);
    m["labels"] = torch::cat(d.labels);
    m["det_counts"] = counts_of(d.boxes);
    if (heads_->cfg.masks) {
      m["mask_probs"] = torch::cat(d.masks);
      m["mask_logits"] = raw.mask_logits;
    }
    return m;
  }

  TensorMap head_distorted(const Features& g, const TensorMap& clean) override {
    auto props = split_rows(clean.at("proposals"), clean.at("proposal_counts"));
    auto boxes = split_rows(clean.at("boxes"), clean.at("det_counts"));
    auto labels = split_rows(clean.at("labels"), clean.at("det_counts"));
    auto r = heads_->raw(g.levels, props, heads_->cfg.masks ? boxes : std::vector<torch::Tensor>{}, labels);
    TensorMap m{{"objectness", r.objectness}, {"rpn_deltas", r.rpn_deltas}, {"class_logits", r.class_logits},
                {"box_deltas", r.box_deltas}};
    if (r.mask_logits.defined()) m["mask_logits"] = r.mask_logits;
    return m;
  }

  // D_det = KL_T(RPN objectness) + SmoothL1(RPN deltas) + KL_T(RoI classes) + SmoothL1(RoI deltas)
  // [+ KL_T(mask logits per pixel) = D_seg]; Bernoulli KL for the sigmoid outputs.
  torch::Tensor discrepancy(const TensorMap& clean, const TensorMap& dist) override {
    const double t = p_.real("temperature");
    using plugins::bernoulli_kl;
    auto smooth = [](const torch::Tensor& a, const torch::Tensor& b) { return det::smooth_l1(b, a); };
    auto d = bernoulli_kl(clean.at("objectness"), dist.at("objectness"), t) + smooth(clean.at("rpn_deltas"), dist.at("rpn_deltas"));
    if (clean.at("class_logits").size(0) > 0)
      d = d + plugins::softmax_kl(clean.at("class_logits"), dist.at("class_logits"), t) +
          smooth(clean.at("box_deltas"), dist.at("box_deltas"));
    if (p_.text("discrepancy") == "segm" && clean.count("mask_logits") && dist.count("mask_logits") &&
        clean.at("mask_logits").numel() > 0)
      d = d + bernoulli_kl(clean.at("mask_logits"), dist.at("mask_logits"), t);
    return d;
  }

  // The top clean detection (detections come sorted by score) scored again on `f` over its box.
  torch::Tensor attribution_target(const Features& f, const TensorMap& clean) override {
    const int64_t K = f.batch_size();
    if (clean.at("det_counts")[0].item<int64_t>() == 0) return f.levels[0].flatten(1).sum(1) * 0;  // nothing detected
    const auto box = clean.at("boxes")[0].view({1, 4});
    const int64_t label = clean.at("labels")[0].item<int64_t>();
    const auto [h, w] = heads_->image_size(f.levels);
    auto logits = heads_->box_branch(f.levels, std::vector<torch::Tensor>(static_cast<size_t>(K), box), h, w).first;
    return torch::softmax(logits, 1).select(1, label);
  }

  std::unique_ptr<Evaluator> evaluator() override {
    if (coco_)
      return std::make_unique<CocoFileEvaluator>(det::coco_annotation_path(so_.root, Split::eval), heads_->cfg.masks,
                                                 heads_->cfg.num_classes);
    return std::make_unique<CocoEvaluator>(heads_->cfg.masks);
  }

 private:
  // With the background at 0: the checkpoint's classifier rows when weights are given (mmdetection's
  // COCO models 81, torchvision's 91), else the 10 Fashion-MNIST classes + 1, or COCO's 91 ids.
  int64_t classes(const Backbone& backbone) const {
    const int64_t asked = p_.integer("num_classes");
    if (backbone.weights_path().empty()) return asked > 0 ? asked : (coco_ ? 91 : 11);
    const char* key = "roi_heads.box_predictor.cls_score.weight";
    auto file = plugins::SafeTensors::read_header(backbone.weights_path());
    if (!file.has(key)) throw std::runtime_error(fmt::format("{}: no tensor '{}' (not a Mask R-CNN checkpoint?)", backbone.weights_path(), key));
    const int64_t rows = file.shape(key).at(0);
    if (asked > 0 && asked != rows)
      throw std::runtime_error(fmt::format("detection: num_classes is {} but {} has {} rows in {} ({} classes + background)",
                                           asked, backbone.weights_path(), rows, key, rows - 1));
    return rows;
  }

  // A checkpoint exported by tools/export_weights.py names the head semantics it was trained with.
  void check_head_semantics(const std::string& path) const {
    auto meta = plugins::SafeTensors::read_header(path).metadata();
    auto source = meta.count("source") ? meta.at("source") : std::string("the checkpoint");
    for (const char* k : {"roi_align_aligned", "roi_sampling_ratio", "anchor_rounding"}) {
      auto it = meta.find(k);
      if (it == meta.end()) continue;
      const auto& v = p_.at(k);
      const std::string ours = v.is_boolean() ? (v.get<bool>() ? "true" : "false") : v.dump();
      if (ours != it->second)
        throw std::runtime_error(fmt::format("detection: {} is {} but {} ({}) was trained with {} = {}; set the task "
                                             "parameter {} to {}",
                                             k, ours, path, source, k, it->second, k, it->second));
    }
  }

  det::SceneOptions eval_options() const {
    auto o = so_;
    o.count = p_.integer("eval_samples");
    return o;
  }

  // A Mask R-CNN checkpoint as tools/export_weights.py writes it: backbone (and FPN) keys at the
  // top level, the heads under rpn.* and roi_heads.* (torchvision's names).
  void load_weights(Backbone& backbone) {
    auto file = plugins::SafeTensors::read(backbone.weights_path());
    const bool strict = backbone.weights_strict();
    auto b = plugins::load_state_dict(backbone.module(), file, "", strict, {"rpn.", "roi_heads."});
    std::vector<std::string> not_heads;
    for (auto& k : file.keys())
      if (k.rfind("rpn.", 0) != 0 && k.rfind("roi_heads.", 0) != 0) not_heads.push_back(k.substr(0, k.find('.') + 1));
    std::sort(not_heads.begin(), not_heads.end());
    not_heads.erase(std::unique(not_heads.begin(), not_heads.end()), not_heads.end());
    plugins::load_state_dict(*heads_, file, "", strict, not_heads);
    for (auto& k : b.missing) std::fprintf(stderr, "weights: missing key '%s' (strict: false)\n", k.c_str());
  }

  void train(Backbone& backbone, RunContext& ctx) {
    auto data = this->data(Split::train, ctx);
    std::vector<torch::Tensor> params = backbone.module().parameters();
    for (auto& t : heads_->parameters()) params.push_back(t);
    torch::optim::AdamW opt(params, torch::optim::AdamWOptions(p_.real("lr")).weight_decay(p_.real("weight_decay")));
    plugins::TrainSettings s;
    s.epochs = p_.integer("epochs"), s.batch_size = p_.integer("batch_size"), s.lr = p_.real("lr"), s.clip_norm = 10.0;
    const int64_t per_epoch = (data->size() + s.batch_size - 1) / s.batch_size;
    s.warmup = std::min<int64_t>(100, s.epochs * per_epoch / 10);
    backbone.module().train();
    heads_->train();
    auto gen = at::detail::createCPUGenerator(ctx.seed() * 31 + 7);
    plugins::train_loop(*data, ctx, opt, params, s, [&](const Batch& b, int64_t step) {
      std::vector<torch::Tensor> boxes, labels, masks;
      for (auto& inst : b.instances) {
        boxes.push_back(inst.at("boxes").to(ctx.device()));
        labels.push_back(inst.at("labels").to(ctx.device()));
        masks.push_back(inst.at("masks").to(ctx.device()));
      }
      auto f = backbone.features(b, ctx.device());
      auto losses = heads_->losses(f.levels, boxes, labels, masks, gen);
      torch::Tensor loss = torch::zeros({}, f.levels[0].options());
      for (auto& [k, v] : losses) loss = loss + v;
      if (step % 10 == 0)
        for (auto& [k, v] : losses) ctx.log_metric("train." + k, v.item<double>(), step);
      return loss;
    });
    backbone.module().eval();
    heads_->eval();
  }

  Params p_;
  bool coco_ = false;
  plugins::Preprocess recipe_;
  det::SceneOptions so_;
  Backbone* backbone_ = nullptr;
  det::MaskRcnnHeads heads_{nullptr};
  std::vector<det::Scene> train_scenes_, eval_scenes_;
};

const featjnd_param_info kParams[] = {
    featjnd::param("dataset", "string", "\"fashion-mnist-scenes\"",
                   "fashion-mnist-scenes (generated offline from Debian's Fashion-MNIST) or coco", FEATJND_STAGE_ALL,
                   -HUGE_VAL, HUGE_VAL, "fashion-mnist-scenes|coco"),
    featjnd::param("root", "path", "\"/usr/share/datasets/fashion-mnist\"", "Fashion-MNIST IDX folder (or COCO root)",
                   FEATJND_STAGE_ALL),
    featjnd::param("preprocess", "json", "null",
                   "coco: the image transform, fields resize (shorter side), max_size, interpolation, antialias, "
                   "resize_on, size_rounding, mean, std, channel_order, pad_divisor (null: the weights' recipe from their "
                   "metadata, else torchvision's detection transform: 800/1333, bilinear on normalised floats, pad 32)",
                   FEATJND_STAGE_ALL),
    featjnd::param("scene_size", "int", "128", "scene canvas side", FEATJND_STAGE_ALL, 64, 1024),
    featjnd::param("max_items", "int", "6", "items per scene (1..max)", FEATJND_STAGE_ALL, 1, 32),
    featjnd::param("scene_seed", "int", "0", "seed of the generated scenes", FEATJND_STAGE_ALL, 0, 1e9),
    featjnd::param("channels", "int", "1", "image channels (the grey scenes are repeated)", FEATJND_STAGE_ALL, 1, 3),
    featjnd::param("train_samples", "int", "2000", "training scenes", FEATJND_STAGE_ALL, 1, 1e7),
    featjnd::param("eval_samples", "int", "500", "evaluation scenes", FEATJND_STAGE_ALL, 1, 1e7),
    featjnd::param("batch_size", "int", "8", "scenes per batch", FEATJND_STAGE_ALL, 1, 4096),
    featjnd::param("epochs", "int", "6", "training epochs when no weights are given", FEATJND_STAGE_PREPARE, 1, 1000),
    featjnd::param("lr", "float", "0.001", "AdamW learning rate (warm-up, then cosine)", FEATJND_STAGE_PREPARE, 0, 10),
    featjnd::param("weight_decay", "float", "0.0001", "AdamW weight decay", FEATJND_STAGE_PREPARE, 0, 1),
    featjnd::param("num_classes", "int", "0", "classes with the background (0: the checkpoint's, else 11 for the scenes, 91 for COCO)",
                   FEATJND_STAGE_ALL, 0, 100000),
    featjnd::param("masks", "bool", "true", "instance segmentation (mask head) as well as boxes", FEATJND_STAGE_ALL),
    featjnd::param("representation", "int", "1024", "box head width (torchvision: 1024)", FEATJND_STAGE_ALL, 8, 8192),
    featjnd::param("mask_channels", "int", "256", "mask head width (torchvision: 256)", FEATJND_STAGE_ALL, 8, 4096),
    featjnd::param("anchor_sizes", "json", "[32, 64, 128, 256, 512]", "anchor size per FPN level", FEATJND_STAGE_ALL),
    featjnd::param("rpn_pre_nms_train", "int", "2000", "RPN top-k per level before NMS, training", FEATJND_STAGE_PREPARE, 1, 1e6),
    featjnd::param("rpn_post_nms_train", "int", "2000", "RPN proposals per image after NMS, training", FEATJND_STAGE_PREPARE, 1, 1e6),
    featjnd::param("rpn_pre_nms_test", "int", "1000", "RPN top-k per level before NMS", FEATJND_STAGE_ALL, 1, 1e6),
    featjnd::param("rpn_post_nms_test", "int", "1000", "RPN proposals per image after NMS", FEATJND_STAGE_ALL, 1, 1e6),
    featjnd::param("rpn_batch", "int", "256", "anchors sampled per image for the RPN loss", FEATJND_STAGE_PREPARE, 1, 1e6),
    featjnd::param("roi_batch", "int", "512", "RoIs sampled per image for the heads' loss", FEATJND_STAGE_PREPARE, 1, 1e6),
    featjnd::param("roi_align_aligned", "bool", "false",
                   "RoIAlign with the half-pixel offset (mmdetection's checkpoints: true; torchvision's: false)",
                   FEATJND_STAGE_ALL),
    featjnd::param("roi_sampling_ratio", "int", "2", "RoIAlign samples per bin and axis; 0: adaptive (mmdetection)",
                   FEATJND_STAGE_ALL, 0, 64),
    featjnd::param("anchor_rounding", "bool", "true", "round the cell anchors (torchvision: true; mmdetection: false)",
                   FEATJND_STAGE_ALL),
    featjnd::param("box_score_thresh", "float", "0.05", "detections below this score are dropped", FEATJND_STAGE_ALL, 0, 1),
    featjnd::param("detections_per_img", "int", "100", "detections kept per image", FEATJND_STAGE_ALL, 1, 1e5),
    featjnd::param("temperature", "float", "1.0", "T of the KL terms of D", FEATJND_STAGE_FIT, 0.01, 100),
    featjnd::param("discrepancy", "string", "\"segm\"", "det: D_det; segm: D_det + the per-pixel mask KL (D_seg)",
                   FEATJND_STAGE_FIT, -HUGE_VAL, HUGE_VAL, "det|segm"),
};

}  // namespace

FEATJND_PLUGIN("task", "detection", "1.0",
               "Mask R-CNN heads on FPN features (torchvision names), COCO bbox/segm metrics, D_det/D_seg", kParams, Detection)
