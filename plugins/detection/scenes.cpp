#include "scenes.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "coco/mask.h"
#include "featjnd_plugins/idx.h"

namespace featjnd::detection {

const char* const kFashionMnistClasses[10] = {"t-shirt/top", "trouser", "pullover", "dress", "coat",
                                              "sandal",      "shirt",   "sneaker",  "bag",   "ankle boot"};

namespace {

constexpr double kMean = 0.2860, kStd = 0.3530;  // Fashion-MNIST statistics, as the classifier's
constexpr double kInk = 0.1;                      // an item pixel is "object" above this intensity

std::string find_idx(const std::string& root, const std::string& stem) {
  namespace fs = std::filesystem;
  for (auto ext : {".gz", ""}) {
    auto p = fs::path(root) / (stem + ext);
    if (fs::exists(p)) return p.string();
  }
  throw std::runtime_error(fmt::format("Fashion-MNIST scenes: '{}' has no {}[.gz] (install dataset-fashion-mnist, or set "
                                       "the task's root)",
                                       root, stem));
}

class SceneSource : public DataSource {
 public:
  SceneSource(std::vector<Scene> scenes, const SceneOptions& o) : scenes_(std::move(scenes)), o_(o) {}
  int64_t size() const override { return static_cast<int64_t>(scenes_.size()); }
  void reset(uint64_t epoch_seed) override {
    pos_ = 0;
    gen_ = at::detail::createCPUGenerator(epoch_seed);
    order_ = o_.augment ? torch::randperm(size(), gen_, torch::kLong) : torch::arange(size(), torch::kLong);
  }
  std::optional<Batch> next() override {
    if (pos_ >= size()) return std::nullopt;
    const int64_t end = std::min(pos_ + o_.batch_size, size());
    std::vector<torch::Tensor> images;
    Batch b;
    for (int64_t i = pos_; i < end; ++i) {
      const Scene& s = scenes_[static_cast<size_t>(order_[i].item<int64_t>())];
      auto img = s.image, boxes = s.boxes, masks = s.masks;
      if (o_.augment && torch::rand({1}, gen_).item<double>() < 0.5) {
        img = img.flip({1});
        masks = masks.flip({2});
        const double w = static_cast<double>(o_.size);
        boxes = torch::stack({w - boxes.select(1, 2), boxes.select(1, 1), w - boxes.select(1, 0), boxes.select(1, 3)}, 1);
      }
      images.push_back(img);
      b.instances.push_back({{"boxes", boxes}, {"labels", s.labels}, {"masks", masks}});
    }
    pos_ = end;
    auto x = torch::stack(images).sub(kMean).div(kStd).unsqueeze(1);
    if (o_.channels > 1) x = x.expand({-1, o_.channels, -1, -1}).contiguous();
    b.images = x;
    return b;
  }

 private:
  std::vector<Scene> scenes_;
  SceneOptions o_;
  at::Generator gen_;
  torch::Tensor order_;
  int64_t pos_ = 0;
};

}  // namespace

std::vector<Scene> make_scenes(const SceneOptions& o, Split split) {
  const std::string prefix = split == Split::train ? "train" : "t10k";
  auto items = plugins::read_idx(find_idx(o.root, prefix + "-images-idx3-ubyte"), 3).to(torch::kFloat).div_(255.0);
  auto classes = plugins::read_idx(find_idx(o.root, prefix + "-labels-idx1-ubyte"), 1).to(torch::kLong);
  if (o.max_items < o.min_items || o.min_items < 0) throw std::invalid_argument("scenes: need 0 <= min_items <= max_items");
  if (28.0 * o.max_scale > double(o.size)) throw std::invalid_argument("scenes: items at max_scale do not fit the canvas");
  // One generator per split and seed: train and evaluation scenes never share a draw.
  auto gen = at::detail::createCPUGenerator(o.seed * 2654435761ull + (split == Split::train ? 1 : 2));
  auto uniform = [&](double lo, double hi) { return lo + (hi - lo) * torch::rand({1}, gen).item<double>(); };
  auto integer = [&](int64_t lo, int64_t hi) { return torch::randint(lo, hi + 1, {1}, gen).item<int64_t>(); };
  std::vector<Scene> out;
  out.reserve(static_cast<size_t>(o.count));
  const int64_t S = o.size;
  for (int64_t n = 0; n < o.count; ++n) {
    auto canvas = torch::zeros({S, S});
    std::vector<torch::Tensor> masks;
    std::vector<int64_t> labels;
    std::vector<int64_t> full_area;
    const int64_t k = integer(o.min_items, o.max_items);
    for (int64_t i = 0; i < k; ++i) {
      const int64_t idx = integer(0, items.size(0) - 1);
      const int64_t side = static_cast<int64_t>(std::lround(28.0 * uniform(o.min_scale, o.max_scale)));
      auto item = torch::nn::functional::interpolate(
                      items[idx].view({1, 1, 28, 28}),
                      torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{side, side}).mode(torch::kBilinear).align_corners(false))
                      .view({side, side});
      const int64_t x = integer(0, S - side), y = integer(0, S - side);
      auto ink = item > kInk;
      auto full = torch::zeros({S, S}, torch::kBool);
      full.slice(0, y, y + side).slice(1, x, x + side).copy_(ink);
      auto region = canvas.slice(0, y, y + side).slice(1, x, x + side);
      region.copy_(torch::where(ink, item, region));
      for (auto& m : masks) m = m & ~full;  // occluded by the new item
      masks.push_back(full);
      labels.push_back(classes[idx].item<int64_t>() + 1);
      full_area.push_back(full.sum().item<int64_t>());
    }
    Scene s;
    s.image = canvas;
    std::vector<torch::Tensor> kb, km;
    std::vector<int64_t> kl;
    for (size_t i = 0; i < masks.size(); ++i) {
      const int64_t area = masks[i].sum().item<int64_t>();
      if (area < 20 || 3 * area < full_area[i]) continue;
      auto rows = torch::where(masks[i].any(1))[0], cols = torch::where(masks[i].any(0))[0];
      kb.push_back(torch::tensor({cols.min().item<float>(), rows.min().item<float>(), cols.max().item<float>() + 1,
                                  rows.max().item<float>() + 1}));
      km.push_back(masks[i].to(torch::kUInt8));
      kl.push_back(labels[i]);
    }
    s.boxes = kb.empty() ? torch::zeros({0, 4}) : torch::stack(kb);
    s.masks = km.empty() ? torch::zeros({0, S, S}, torch::kUInt8) : torch::stack(km);
    s.labels = torch::tensor(kl, torch::kLong);
    out.push_back(std::move(s));
  }
  return out;
}

std::unique_ptr<DataSource> make_scene_source(std::vector<Scene> scenes, const SceneOptions& o) {
  return std::make_unique<SceneSource>(std::move(scenes), o);
}

std::string scenes_coco_json(const std::vector<Scene>& scenes) {
  nlohmann::json images = nlohmann::json::array(), anns = nlohmann::json::array(), cats = nlohmann::json::array();
  for (int c = 0; c < 10; ++c) cats.push_back({{"id", c + 1}, {"name", kFashionMnistClasses[c]}});
  int64_t aid = 1;
  for (size_t i = 0; i < scenes.size(); ++i) {
    const auto& s = scenes[i];
    const int64_t h = s.image.size(0), w = s.image.size(1);
    images.push_back({{"id", i + 1}, {"height", h}, {"width", w}, {"file_name", fmt::format("scene_{:06d}.png", i)}});
    for (int64_t k = 0; k < s.boxes.size(0); ++k) {
      auto b = s.boxes[k];
      const float x1 = b[0].item<float>(), y1 = b[1].item<float>(), x2 = b[2].item<float>(), y2 = b[3].item<float>();
      auto m = s.masks[k].t().contiguous();  // column-major for RLE
      auto rle = coco::encode(m.data_ptr<uint8_t>(), static_cast<uint64_t>(h), static_cast<uint64_t>(w));
      anns.push_back({{"id", aid++},
                      {"image_id", i + 1},
                      {"category_id", s.labels[k].item<int64_t>()},
                      {"bbox", {x1, y1, x2 - x1, y2 - y1}},
                      {"area", coco::area(rle)},
                      {"iscrowd", 0},
                      {"segmentation", {{"size", {h, w}}, {"counts", coco::to_string(rle)}}}});
    }
  }
  return nlohmann::json{{"images", images}, {"annotations", anns}, {"categories", cats}}.dump();
}

}  // namespace featjnd::detection
