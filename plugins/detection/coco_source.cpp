#include "coco_source.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include <fmt/format.h>
#include <torch/torch.h>

#include "featjnd_plugins/jpeg.h"

namespace featjnd::detection {

namespace {

namespace fs = std::filesystem;

class CocoSource : public DataSource {
 public:
  CocoSource(const CocoOptions& o, Split split) : o_(o), train_(split == Split::train) {
    const std::string name = split == Split::train ? "train2017" : "val2017";
    images_dir_ = (fs::path(o.root) / name).string();
    auto ds = coco::load_ground_truth(coco_annotation_path(o.root, split), false);
    for (auto& im : ds.images) images_.push_back(im);
    std::sort(images_.begin(), images_.end(), [](const coco::Image& a, const coco::Image& b) { return a.id < b.id; });
    if (o.limit > 0 && static_cast<size_t>(o.limit) < images_.size()) images_.resize(static_cast<size_t>(o.limit));
    if (!fs::is_directory(images_dir_)) throw std::runtime_error(fmt::format("COCO: no image folder {}", images_dir_));
    order_.resize(images_.size());
    for (size_t i = 0; i < order_.size(); ++i) order_[i] = static_cast<int64_t>(i);
  }
  int64_t size() const override { return static_cast<int64_t>(images_.size()); }
  // Training passes visit the images in an order drawn from the epoch seed; evaluation in id order.
  void reset(uint64_t epoch_seed) override {
    pos_ = 0;
    if (!train_) return;
    auto perm = torch::randperm(size(), at::detail::createCPUGenerator(epoch_seed), torch::kLong);
    for (size_t i = 0; i < order_.size(); ++i) order_[i] = perm[static_cast<int64_t>(i)].item<int64_t>();
  }
  std::optional<Batch> next() override {
    if (pos_ >= size()) return std::nullopt;
    const int64_t end = std::min(pos_ + o_.batch_size, size());
    std::vector<torch::Tensor> imgs;
    Batch b;
    int64_t H = 0, W = 0;
    for (int64_t i = pos_; i < end; ++i) {
      const auto& im = images_[static_cast<size_t>(order_[static_cast<size_t>(i)])];
      auto rgb = plugins::decode_jpeg((fs::path(images_dir_) / im.file_name).string());
      auto x = o_.preprocess.apply(rgb);
      H = std::max(H, x.size(1));
      W = std::max(W, x.size(2));
      imgs.push_back(x);
      b.instances.push_back({{"image_id", torch::tensor({im.id}, torch::kLong)},
                             {"orig_size", torch::tensor({rgb.size(1), rgb.size(2)}, torch::kLong)},
                             {"size", torch::tensor({x.size(1), x.size(2)}, torch::kLong)}});
    }
    pos_ = end;
    if (const int64_t d = o_.preprocess.pad_divisor; d > 1) {
      H = (H + d - 1) / d * d;
      W = (W + d - 1) / d * d;
    }
    auto batch = torch::zeros({static_cast<int64_t>(imgs.size()), 3, H, W});
    for (size_t i = 0; i < imgs.size(); ++i)
      batch[static_cast<int64_t>(i)].slice(1, 0, imgs[i].size(1)).slice(2, 0, imgs[i].size(2)).copy_(imgs[i]);
    b.images = batch;
    std::vector<int64_t> sizes;
    for (auto& inst : b.instances) sizes.insert(sizes.end(), {inst.at("size")[0].item<int64_t>(), inst.at("size")[1].item<int64_t>()});
    b.targets["image_sizes"] = torch::tensor(sizes, torch::kLong).view({-1, 2});
    return b;
  }

 private:
  CocoOptions o_;
  std::string images_dir_;
  bool train_;
  std::vector<coco::Image> images_;
  std::vector<int64_t> order_;
  int64_t pos_ = 0;
};

}  // namespace

std::string coco_annotation_path(const std::string& root, Split split) {
  return (fs::path(root) / "annotations" / (split == Split::train ? "instances_train2017.json" : "instances_val2017.json"))
      .string();
}

std::unique_ptr<DataSource> make_coco_source(const CocoOptions& o, Split split) {
  return std::make_unique<CocoSource>(o, split);
}

}  // namespace featjnd::detection
