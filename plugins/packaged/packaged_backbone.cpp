// A model packaged by tools/export_model.py: any PyTorch model split into a TorchScript trunk
// (images → the feature levels at the split) and head (levels → logits), with its metadata. The
// trunk is the backbone; the head is what the classification task evaluates, differentiates for
// FeatJND's fit and attributes. A detector's package (export_model.py --detector) has no head: its
// trunk gives the five FPN levels, and the detection task's Mask R-CNN heads take their weights
// from the package's maskrcnn.safetensors (the `weights` parameter).
//
// The engine moves, saves, loads and freezes a backbone through its torch::nn::Module; a
// TorchScript module is not one. PackagedModule mirrors the scripted modules' hierarchy with the
// same tensors registered under the same names (trunk.<the model's state-dict key>, head.<…>), so
// every one of those operations reaches the tensors the scripted code runs on.
#include <filesystem>
#include <fstream>
#include <optional>

#include <fmt/format.h>
#include <torch/script.h>
#include <torch/torch.h>

#include "core/sha256.h"
#include "featjnd/plugin.h"

#if __has_include(<torch/csrc/inductor/aoti_package/model_package_loader.h>)
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#define FEATJND_HAVE_AOTI 1
#endif

namespace {

namespace fs = std::filesystem;
constexpr const char* kFormat = "featjnd-model-package";
constexpr int64_t kFormatVersion = 1;

struct MirrorImpl : torch::nn::Module {
  explicit MirrorImpl(torch::jit::Module m) : scripted(std::move(m)) {
    for (const auto& p : scripted.named_parameters(/*recurse=*/false))
      register_parameter(p.name, p.value, p.value.requires_grad());
    for (const auto& b : scripted.named_buffers(/*recurse=*/false)) register_buffer(b.name, b.value);
    for (const auto& c : scripted.named_children()) register_module(c.name, std::make_shared<MirrorImpl>(c.value));
  }
  // The scripted module keeps its own training flag (a module that reads it, as a scripted
  // dropout would, follows the engine's train/eval).
  void train(bool on) override {
    torch::nn::Module::train(on);
    scripted.train(on);
  }
  torch::jit::Module scripted;
};
TORCH_MODULE(Mirror);

struct PackageImpl : torch::nn::Module {
  PackageImpl(torch::jit::Module t, std::optional<torch::jit::Module> h) {
    trunk = register_module("trunk", Mirror(std::move(t)));
    if (h) head = register_module("head", Mirror(std::move(*h)));
  }
  Mirror trunk{nullptr}, head{nullptr};
};
TORCH_MODULE(Package);

// package.json, checked: what it must hold and that its files are the ones it was written with.
struct PackageInfo {
  nlohmann::json meta;
  std::vector<std::string> level_names;
  int64_t channels = 0, height = 0, width = 0;
};

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(fmt::format("packaged: no {} (export the model with tools/export_model.py)", path.string()));
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw std::runtime_error(fmt::format("packaged: {} is not a JSON object", path.string()));
  return j;
}

void check_files(const fs::path& dir, const nlohmann::json& files) {
  if (!files.is_object() || !files.contains("trunk.pt"))
    throw std::runtime_error(fmt::format("packaged: {}/package.json lists no trunk.pt", dir.string()));
  for (const auto& [name, digest] : files.items()) {
    const auto path = (dir / name).string();
    if (!fs::exists(path)) throw std::runtime_error(fmt::format("packaged: {} is missing", path));
    if (featjnd::sha256_file(path) != digest.get<std::string>())
      throw std::runtime_error(fmt::format("packaged: {} is not the file the package was exported with (SHA-256 "
                                           "differs); export the package again",
                                           path));
  }
}

PackageInfo read_package(const fs::path& dir) {
  PackageInfo p;
  p.meta = read_json(dir / "package.json");
  const auto where = (dir / "package.json").string();
  if (p.meta.value("format", std::string()) != kFormat || !p.meta.contains("format_version"))
    throw std::runtime_error(fmt::format("packaged: {} is not a {} file", where, kFormat));
  if (p.meta["format_version"] != kFormatVersion)
    throw std::runtime_error(fmt::format("packaged: {} has format_version {}; this engine reads {}", where,
                                         p.meta["format_version"].dump(), kFormatVersion));
  try {
    const auto& in = p.meta.at("input");
    p.channels = in.at("channels").get<int64_t>();
    p.height = in.at("height").get<int64_t>();
    p.width = in.at("width").get<int64_t>();
    for (const auto& l : p.meta.at("levels")) p.level_names.push_back(l.at("name").get<std::string>());
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(fmt::format("packaged: {}: {}", where, e.what()));
  }
  check_files(dir, p.meta.at("files"));
  return p;
}

torch::jit::Module load_scripted(const fs::path& path) {
  try {
    auto m = torch::jit::load(path.string(), torch::kCPU);
    m.eval();
    return m;
  } catch (const c10::Error& e) {
    throw std::runtime_error(fmt::format("packaged: cannot load {}: {}", path.string(), e.what_without_backtrace()));
  }
}

std::vector<torch::Tensor> tensors_of(const c10::IValue& out, const char* what) {
  if (out.isTensor()) return {out.toTensor()};
  std::vector<torch::Tensor> v;
  if (out.isTuple())
    for (const auto& e : out.toTupleRef().elements()) v.push_back(e.toTensor());
  else if (out.isTensorList())
    v = out.toTensorVector();
  else
    throw std::runtime_error(fmt::format("packaged: the {} returned neither a tensor nor a tuple of tensors", what));
  return v;
}

// The head, where the package has one (a detector's has none).
std::optional<torch::jit::Module> load_head(const fs::path& dir, const PackageInfo& info) {
  if (!info.meta.at("files").contains("head.pt")) return std::nullopt;
  return load_scripted(dir / "head.pt");
}

class PackagedBackbone : public featjnd::Backbone {
 public:
  explicit PackagedBackbone(const featjnd::Params& p)
      : dir_(p.text("package")),
        info_(read_package(dir_)),
        net_(load_scripted(dir_ / "trunk.pt"), load_head(dir_, info_)),
        weights_(p.text("weights")) {
    if (p.text("runtime") == "aoti") load_compiled();
    if (!weights_.empty() && !fs::exists(weights_))
      throw std::runtime_error(fmt::format("packaged: weights '{}' does not exist", weights_));
  }

  torch::nn::Module& module() override { return *net_; }

  featjnd::Features forward(const torch::Tensor& images) override {
    if (images.dim() != 4 || images.size(1) != info_.channels)
      throw std::runtime_error(fmt::format("packaged: {} takes B x {} x H x W images, given {}-d with {} channels",
                                           dir_.string(), info_.channels, images.dim(),
                                           images.dim() > 1 ? images.size(1) : 0));
    std::vector<torch::Tensor> levels;
    if (compiled_ && !torch::GradMode::is_enabled() && images.device().is_cpu())
      levels = compiled_->run({images.contiguous()});
    else
      levels = tensors_of(net_->trunk->scripted.forward({images}), "trunk");
    if (levels.size() != info_.level_names.size())
      throw std::runtime_error(fmt::format("packaged: the trunk gave {} levels; package.json names {}", levels.size(),
                                           info_.level_names.size()));
    return {levels, info_.level_names};
  }

  bool has_classifier() const override { return !net_->head.is_empty(); }

  std::string weights_path() const override { return weights_; }

  torch::Tensor classify(const featjnd::Features& f) override {
    if (net_->head.is_empty())
      throw std::runtime_error(fmt::format("packaged: {} is a detector's package (no head.pt); use it with the "
                                           "detection task",
                                           dir_.string()));
    std::vector<c10::IValue> in(f.levels.begin(), f.levels.end());
    return tensors_of(net_->head->scripted.forward(in), "head").at(0);
  }

  std::string preprocess_recipe() const override {
    const auto& r = info_.meta.value("preprocess", nlohmann::json());
    return r.is_object() ? r.dump() : std::string();
  }

 private:
  // The trunk compiled ahead of time (export_model.py --aoti): it serves forward passes without
  // gradients on the CPU; the TorchScript trunk serves the rest.
  void load_compiled() {
    const auto path = dir_ / "trunk-cpu.pt2";
#ifdef FEATJND_HAVE_AOTI
    if (!fs::exists(path))
      throw std::runtime_error(fmt::format("packaged: runtime aoti needs {} (tools/export_model.py --aoti)", path.string()));
    compiled_ = std::make_unique<torch::inductor::AOTIModelPackageLoader>(path.string());
#else
    throw std::runtime_error(fmt::format("packaged: this LibTorch ({}) has no AOTInductor loader for {}", TORCH_VERSION,
                                         path.string()));
#endif
  }

  fs::path dir_;
  PackageInfo info_;
  Package net_;
  std::string weights_;
#ifdef FEATJND_HAVE_AOTI
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> compiled_;
#else
  struct NoCompiled {
    std::vector<torch::Tensor> run(const std::vector<torch::Tensor>&) { return {}; }
  };
  std::unique_ptr<NoCompiled> compiled_;
#endif
};

const featjnd_param_info kParams[] = {
    featjnd::param("package", "path", "\"\"", "a model package folder (tools/export_model.py)"),
    featjnd::param("weights", "path", "\"\"",
                   "a detector package's maskrcnn.safetensors: the Mask R-CNN heads (and the trunk's tensors) the "
                   "detection task loads"),
    featjnd::param("runtime", "string", "\"torchscript\"",
                   "torchscript, or aoti: the trunk's AOTInductor package for gradient-free CPU passes",
                   FEATJND_STAGE_ALL, -HUGE_VAL, HUGE_VAL, "torchscript|aoti"),
};

}  // namespace

FEATJND_PLUGIN("backbone", "packaged", "1.1",
               "any PyTorch model packaged by tools/export_model.py: TorchScript trunk and head (detectors: trunk and Mask R-CNN weights)", kParams,
               PackagedBackbone)
