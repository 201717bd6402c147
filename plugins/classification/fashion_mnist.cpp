#include <filesystem>

#include <fmt/format.h>
#include <torch/torch.h>

#include "datasets.h"
#include "featjnd_plugins/idx.h"

namespace featjnd::classification {
namespace {

// Fashion-MNIST training-set statistics.
constexpr double kMean = 0.2860, kStd = 0.3530;

class TensorData : public DataSource {
 public:
  TensorData(torch::Tensor images, torch::Tensor labels, const DatasetOptions& o)
      : images_(std::move(images)), labels_(std::move(labels)), opt_(o) {}
  int64_t size() const override { return labels_.size(0); }
  void reset(uint64_t epoch_seed) override {
    pos_ = 0;
    gen_ = at::detail::createCPUGenerator(epoch_seed);
    order_ = opt_.augment ? torch::randperm(size(), gen_, torch::kLong) : torch::arange(size(), torch::kLong);
  }
  std::optional<Batch> next() override {
    if (pos_ >= size()) return std::nullopt;
    auto idx = order_.slice(0, pos_, std::min(pos_ + opt_.batch_size, size()));
    pos_ += opt_.batch_size;
    auto x = images_.index_select(0, idx).to(torch::kFloat).div_(255.0).sub_(kMean).div_(kStd).unsqueeze(1);
    if (opt_.augment) {
      // Horizontal flip of a random half, drawn from the epoch's generator.
      auto flip = torch::rand({x.size(0)}, gen_) < 0.5;
      x = torch::where(flip.view({-1, 1, 1, 1}), x.flip({3}), x);
    }
    if (opt_.channels > 1) x = x.expand({-1, opt_.channels, -1, -1}).contiguous();
    Batch b;
    b.images = x;
    b.targets["labels"] = labels_.index_select(0, idx);
    return b;
  }

 private:
  torch::Tensor images_, labels_, order_;
  DatasetOptions opt_;
  at::Generator gen_;
  int64_t pos_ = 0;
};

}  // namespace

std::unique_ptr<DataSource> make_fashion_mnist(const DatasetOptions& o, Split split, DatasetInfo& info) {
  namespace fs = std::filesystem;
  std::string prefix = split == Split::train ? "train" : "t10k";
  auto find = [&](const std::string& stem) {
    for (auto ext : {".gz", ""}) {
      auto p = fs::path(o.root) / (stem + ext);
      if (fs::exists(p)) return p.string();
    }
    throw std::runtime_error(fmt::format("Fashion-MNIST: '{}' has no {}[.gz] (install dataset-fashion-mnist, or set "
                                         "the task's root)",
                                         o.root, stem));
  };
  auto images = plugins::read_idx(find(prefix + "-images-idx3-ubyte"), 3);
  auto labels = plugins::read_idx(find(prefix + "-labels-idx1-ubyte"), 1).to(torch::kLong);
  if (images.size(0) != labels.size(0))
    throw std::runtime_error(fmt::format("Fashion-MNIST: {} images but {} labels in '{}'", images.size(0),
                                         labels.size(0), o.root));
  if (labels.numel() && (labels.min().item<int64_t>() < 0 || labels.max().item<int64_t>() > 9))
    throw std::runtime_error("Fashion-MNIST: labels outside 0..9");
  if (o.limit > 0 && o.limit < images.size(0)) {
    // A fixed shuffle (seed 0), so a subset keeps every class.
    auto keep = torch::randperm(images.size(0), at::detail::createCPUGenerator(0), torch::kLong).slice(0, 0, o.limit);
    images = images.index_select(0, keep);
    labels = labels.index_select(0, keep);
  }
  info.num_classes = 10;
  info.height = images.size(1);
  info.width = images.size(2);
  return std::make_unique<TensorData>(images, labels, o);
}

}  // namespace featjnd::classification
