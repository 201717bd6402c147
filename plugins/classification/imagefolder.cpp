#include <algorithm>
#include <cmath>
#include <deque>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>

#include <fmt/format.h>
#include <torch/torch.h>
#include <turbojpeg.h>

#include "datasets.h"
#include "featjnd_plugins/jpeg.h"

using featjnd::plugins::decode_jpeg;

namespace fs = std::filesystem;

namespace featjnd::classification {
namespace {

struct Sample {
  std::string path;
  int64_t label;
};

bool is_jpeg(const fs::path& p) {
  auto e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), ::tolower);
  return e == ".jpeg" || e == ".jpg";
}


// torchvision RandomResizedCrop(size, scale=(0.08, 1), ratio=(3/4, 4/3)) + RandomHorizontalFlip,
// then the recipe's normalisation (its interpolation, antialiased, on the 8-bit image).
torch::Tensor train_transform(const torch::Tensor& img, const plugins::Preprocess& recipe, std::mt19937_64& rng) {
  const int64_t size = recipe.crop > 0 ? recipe.crop : 224;
  int64_t H = img.size(1), W = img.size(2);
  double area = double(H) * double(W);
  std::uniform_real_distribution<double> scale(0.08, 1.0), logr(std::log(3.0 / 4.0), std::log(4.0 / 3.0)), u(0, 1);
  int64_t top = 0, left = 0, h = H, w = W;
  bool found = false;
  for (int i = 0; i < 10 && !found; ++i) {
    double target = area * scale(rng), ratio = std::exp(logr(rng));
    int64_t cw = static_cast<int64_t>(std::round(std::sqrt(target * ratio)));
    int64_t ch = static_cast<int64_t>(std::round(std::sqrt(target / ratio)));
    if (cw > 0 && ch > 0 && cw <= W && ch <= H) {
      top = std::uniform_int_distribution<int64_t>(0, H - ch)(rng);
      left = std::uniform_int_distribution<int64_t>(0, W - cw)(rng);
      h = ch;
      w = cw;
      found = true;
    }
  }
  if (!found) {  // centre crop at the nearest allowed ratio
    double r = double(W) / double(H);
    if (r < 3.0 / 4.0) { w = W; h = static_cast<int64_t>(std::round(w / (3.0 / 4.0))); }
    else if (r > 4.0 / 3.0) { h = H; w = static_cast<int64_t>(std::round(h * (4.0 / 3.0))); }
    top = (H - h) / 2;
    left = (W - w) / 2;
  }
  plugins::Preprocess square = recipe;  // the crop resized to size x size, normalised
  square.crop = 0, square.max_size = 0, square.resize = 0;
  auto patch = img.slice(1, top, top + h).slice(2, left, left + w).unsqueeze(0).contiguous();
  namespace F = torch::nn::functional;
  auto opts = F::InterpolateFuncOptions().size(std::vector<int64_t>{size, size}).align_corners(false).antialias(true);
  if (recipe.interpolation == "bicubic") opts.mode(torch::kBicubic);
  else opts.mode(torch::kBilinear);
  auto r = F::interpolate(patch, opts).squeeze(0);
  auto x = square.apply(r);
  if (u(rng) < 0.5) x = x.flip({2});
  return x;
}

class ImageFolderData : public DataSource {
 public:
  ImageFolderData(std::vector<Sample> samples, const DatasetOptions& o) : samples_(std::move(samples)), opt_(o) {}
  ~ImageFolderData() override {
    for (auto& f : queue_) if (f.valid()) f.wait();
  }
  int64_t size() const override { return static_cast<int64_t>(samples_.size()); }

  void reset(uint64_t epoch_seed) override {
    for (auto& f : queue_) if (f.valid()) f.wait();
    queue_.clear();
    seed_ = epoch_seed;
    order_.resize(samples_.size());
    std::iota(order_.begin(), order_.end(), size_t(0));
    if (opt_.augment) std::shuffle(order_.begin(), order_.end(), std::mt19937_64(epoch_seed));
    next_batch_ = 0;
    for (int64_t i = 0; i < std::max<int64_t>(2, opt_.workers); ++i) submit();
  }

  std::optional<Batch> next() override {
    if (queue_.empty()) return std::nullopt;
    auto f = std::move(queue_.front());
    queue_.pop_front();
    submit();
    return f.get();
  }

 private:
  void submit() {
    int64_t begin = next_batch_ * opt_.batch_size;
    if (begin >= size()) return;
    int64_t end = std::min(begin + opt_.batch_size, size());
    ++next_batch_;
    queue_.push_back(std::async(std::launch::async, [this, begin, end] { return load(begin, end); }));
  }

  Batch load(int64_t begin, int64_t end) const {
    std::vector<torch::Tensor> images;
    std::vector<int64_t> labels;
    for (int64_t i = begin; i < end; ++i) {
      const auto& s = samples_[order_[static_cast<size_t>(i)]];
      auto img = decode_jpeg(s.path);
      // One generator per sample: the same epoch seed gives the same crops, whatever the threads do.
      std::mt19937_64 rng(seed_ * 0x9E3779B97F4A7C15ull + order_[static_cast<size_t>(i)]);
      images.push_back(opt_.augment ? train_transform(img, opt_.preprocess, rng) : opt_.preprocess.apply(img));
      labels.push_back(s.label);
    }
    Batch b;
    b.images = torch::stack(images);
    b.targets["labels"] = torch::tensor(labels, torch::kLong);
    return b;
  }

  std::vector<Sample> samples_;
  DatasetOptions opt_;
  std::vector<size_t> order_;
  uint64_t seed_ = 0;
  int64_t next_batch_ = 0;
  std::deque<std::future<Batch>> queue_;
};

std::vector<std::string> class_names(const fs::path& dir) {
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(dir))
    if (e.is_directory()) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());  // torchvision ImageFolder: sorted class folders
  return names;
}

}  // namespace

std::unique_ptr<DataSource> make_imagefolder(const DatasetOptions& o, Split split, DatasetInfo& info) {
  fs::path root(o.root);
  fs::path dir = root / (split == Split::train ? "train" : "val");
  if (!fs::is_directory(dir))
    throw std::runtime_error(fmt::format("imagefolder: '{}' is not a folder (expected {}/train/<class>/*.JPEG and "
                                         "{}/val/<class>/*.JPEG)",
                                         dir.string(), o.root, o.root));
  // Class indices come from train/ when it exists, so that both splits agree.
  auto classes = class_names(fs::is_directory(root / "train") ? root / "train" : dir);
  if (classes.empty()) throw std::runtime_error(fmt::format("imagefolder: '{}' has no class folders", dir.string()));
  std::vector<Sample> samples;
  for (size_t c = 0; c < classes.size(); ++c) {
    auto cdir = dir / classes[c];
    if (!fs::is_directory(cdir)) continue;
    std::vector<std::string> files;
    for (auto& e : fs::directory_iterator(cdir))
      if (e.is_regular_file() && is_jpeg(e.path())) files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    for (auto& f : files) samples.push_back({f, static_cast<int64_t>(c)});
  }
  if (samples.empty()) throw std::runtime_error(fmt::format("imagefolder: no JPEG files under '{}'", dir.string()));
  if (o.limit > 0 && o.limit < static_cast<int64_t>(samples.size())) {
    std::shuffle(samples.begin(), samples.end(), std::mt19937_64(0));
    samples.resize(static_cast<size_t>(o.limit));
  }
  if (o.channels != 3) throw std::runtime_error("imagefolder: images are RGB; set the task's channels to 3");
  info.num_classes = static_cast<int64_t>(classes.size());
  if (o.preprocess.crop == 0)
    throw std::runtime_error("imagefolder: the preprocess recipe has no crop; images of many sizes need one (crop > 0)");
  info.height = info.width = o.preprocess.crop;
  return std::make_unique<ImageFolderData>(std::move(samples), o);
}

}  // namespace featjnd::classification
