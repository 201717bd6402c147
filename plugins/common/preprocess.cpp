#include "featjnd_plugins/preprocess.h"

#include <cmath>
#include <set>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "featjnd_plugins/safetensors.h"

namespace featjnd::plugins {
namespace F = torch::nn::functional;

namespace {

const char* const kKeys[] = {"resize",    "max_size", "crop",          "interpolation", "antialias",   "resize_on",
                             "size_rounding", "mean", "std",           "channel_order", "pad_divisor"};

[[noreturn]] void refuse(const std::string& what, const std::string& key, const std::string& rule) {
  throw std::invalid_argument(fmt::format("{}: preprocess.{}: {}", what, key, rule));
}

int64_t size_field(const nlohmann::json& v, const std::string& what, const std::string& key) {
  if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 100000)
    refuse(what, key, fmt::format("{} is not an integer in [0, 100000]", v.dump()));
  return v.get<int64_t>();
}

std::string choice(const nlohmann::json& v, const std::string& what, const std::string& key, std::set<std::string> allowed) {
  if (!v.is_string() || !allowed.count(v.get<std::string>()))
    refuse(what, key, fmt::format("{} is not one of {}", v.dump(), fmt::join(allowed, ", ")));
  return v.get<std::string>();
}

std::array<double, 3> triple(const nlohmann::json& v, const std::string& what, const std::string& key, bool positive) {
  if (!v.is_array() || v.size() != 3) refuse(what, key, fmt::format("{} is not a list of 3 numbers", v.dump()));
  std::array<double, 3> out{};
  for (size_t i = 0; i < 3; ++i) {
    if (!v[i].is_number() || !std::isfinite(v[i].get<double>()) || (positive && v[i].get<double>() <= 0))
      refuse(what, key, fmt::format("{} is not a list of 3 {}numbers", v.dump(), positive ? "positive " : ""));
    out[i] = v[i].get<double>();
  }
  return out;
}

}  // namespace

nlohmann::json Preprocess::to_json() const {
  return {{"resize", resize},       {"max_size", max_size},           {"crop", crop},
          {"interpolation", interpolation}, {"antialias", antialias}, {"resize_on", resize_on},
          {"size_rounding", size_rounding}, {"mean", mean},           {"std", std},
          {"channel_order", channel_order}, {"pad_divisor", pad_divisor}};
}

Preprocess Preprocess::with(const nlohmann::json& j, const std::string& what) const {
  if (j.is_null()) return *this;
  if (!j.is_object()) throw std::invalid_argument(fmt::format("{}: preprocess: {} is not an object", what, j.dump()));
  const std::set<std::string> known(std::begin(kKeys), std::end(kKeys));
  Preprocess p = *this;
  for (auto& [key, v] : j.items()) {
    if (!known.count(key)) refuse(what, key, fmt::format("unknown; expected one of {}", fmt::join(known, ", ")));
    if (key == "resize") p.resize = size_field(v, what, key);
    else if (key == "max_size") p.max_size = size_field(v, what, key);
    else if (key == "crop") p.crop = size_field(v, what, key);
    else if (key == "pad_divisor") p.pad_divisor = size_field(v, what, key);
    else if (key == "interpolation") p.interpolation = choice(v, what, key, {"bilinear", "bicubic"});
    else if (key == "resize_on") p.resize_on = choice(v, what, key, {"uint8", "float"});
    else if (key == "size_rounding") p.size_rounding = choice(v, what, key, {"floor", "round"});
    else if (key == "channel_order") p.channel_order = choice(v, what, key, {"rgb", "bgr"});
    else if (key == "mean") p.mean = triple(v, what, key, false);
    else if (key == "std") p.std = triple(v, what, key, true);
    else if (key == "antialias") {
      if (!v.is_boolean()) refuse(what, key, fmt::format("{} is not true or false", v.dump()));
      p.antialias = v.get<bool>();
    }
  }
  if (p.max_size > 0 && p.max_size < p.resize)
    refuse(what, "max_size", fmt::format("{} is below resize {}", p.max_size, p.resize));
  return p;
}

Preprocess Preprocess::named(const std::string& origin) {
  Preprocess p;  // torchvision's ImageNet classifiers (IMAGENET1K_V1): 256, bilinear, 224
  if (origin == "torchvision") return p;
  if (origin == "timm") {  // timm's eval transform at crop_pct 0.9 (PVTv2): floor(224 / 0.9)
    p.resize = 248, p.interpolation = "bicubic";
    return p;
  }
  if (origin == "torchvision-detection") {  // GeneralizedRCNNTransform
    p.resize = 800, p.max_size = 1333, p.crop = 0, p.antialias = false, p.resize_on = "float", p.pad_divisor = 32;
    return p;
  }
  if (origin == "mmdetection") {  // LoadImageFromFile, Resize((1333, 800), keep_ratio), Normalize, Pad(32)
    p.resize = 800, p.max_size = 1333, p.crop = 0, p.antialias = false, p.size_rounding = "round", p.pad_divisor = 32;
    p.mean = {123.675 / 255, 116.28 / 255, 103.53 / 255};
    p.std = {58.395 / 255, 57.12 / 255, 57.375 / 255};
    return p;
  }
  throw std::invalid_argument(fmt::format(
      "preprocess: no recipe named '{}'; expected torchvision, torchvision-detection, timm or mmdetection", origin));
}

std::pair<int64_t, int64_t> Preprocess::resized_size(int64_t h, int64_t w) const {
  if (resize == 0) return {h, w};
  const double shorter = double(std::min(h, w)), longer = double(std::max(h, w));
  if (max_size == 0) {
    // torchvision's Resize(int): the shorter side exactly, the longer int(size · long / short),
    // in that order of operations (another order rounds differently at whole numbers).
    const auto other = static_cast<int64_t>(std::floor(double(resize) * longer / shorter));
    return w <= h ? std::pair{other, resize} : std::pair{resize, other};
  }
  // Detection: one scale for both sides, the shorter to `resize` unless the longer passes max_size
  // (torchvision: floor(side · scale); mmcv's rescale_size: int(side · scale + 0.5)).
  const double scale = std::min(double(resize) / shorter, double(max_size) / longer);
  auto side = [&](int64_t s) {
    const double x = double(s) * scale;
    return static_cast<int64_t>(size_rounding == "round" ? std::floor(x + 0.5) : std::floor(x));
  };
  return {side(h), side(w)};
}

torch::Tensor Preprocess::apply(const torch::Tensor& rgb) const {
  TORCH_CHECK(rgb.dim() == 3 && rgb.size(0) == 3 && rgb.scalar_type() == torch::kUInt8,
              "preprocess: expected a 3 x H x W uint8 image");
  const auto [nh, nw] = resized_size(rgb.size(1), rgb.size(2));
  auto opts = F::InterpolateFuncOptions().size(std::vector<int64_t>{nh, nw}).align_corners(false).antialias(antialias);
  if (interpolation == "bicubic") opts.mode(torch::kBicubic);
  else opts.mode(torch::kBilinear);
  auto mean_t = torch::tensor(std::vector<double>(mean.begin(), mean.end()), torch::kFloat).view({3, 1, 1});
  auto std_t = torch::tensor(std::vector<double>(std.begin(), std.end()), torch::kFloat).view({3, 1, 1});
  torch::Tensor x;
  const bool same = nh == rgb.size(1) && nw == rgb.size(2);
  if (resize_on == "uint8") {  // resampled and rounded in 8 bits (PIL, OpenCV), then normalised
    auto r = same ? rgb : F::interpolate(rgb.unsqueeze(0).contiguous(), opts).squeeze(0);
    x = (r.to(torch::kFloat) / 255.0 - mean_t) / std_t;
  } else {  // normalised, then resampled in floating point
    x = (rgb.to(torch::kFloat) / 255.0 - mean_t) / std_t;
    if (!same) x = F::interpolate(x.unsqueeze(0), opts).squeeze(0);
  }
  if (crop > 0) {  // torchvision's CenterCrop: offsets rounded half to even of (side − crop) / 2
    if (nh < crop || nw < crop)
      throw std::runtime_error(fmt::format("preprocess: a {}x{} image is smaller than the {} crop after resizing", nh, nw, crop));
    const auto top = static_cast<int64_t>(std::nearbyint(double(nh - crop) / 2.0));
    const auto left = static_cast<int64_t>(std::nearbyint(double(nw - crop) / 2.0));
    x = x.slice(1, top, top + crop).slice(2, left, left + crop);
  }
  if (channel_order == "bgr") x = x.flip(0);
  return x.contiguous();
}

Preprocess preprocess_of_weights(const std::string& weights_path, const Preprocess& fallback) {
  if (weights_path.empty()) return fallback;
  const auto meta = SafeTensors::read_header(weights_path).metadata();
  auto it = meta.find("preprocess");
  if (it == meta.end()) return fallback;
  auto j = nlohmann::json::parse(it->second, nullptr, false);
  if (j.is_discarded()) throw std::runtime_error(fmt::format("{}: its metadata 'preprocess' is not JSON", weights_path));
  return Preprocess().with(j, weights_path + " (metadata)");
}

}  // namespace featjnd::plugins
