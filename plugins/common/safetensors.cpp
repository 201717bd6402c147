#include "featjnd_plugins/safetensors.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace featjnd::plugins {
namespace {

// The tensor type of each dtype name; element sizes come from the header check
// (safetensors_element_size), the one table of them.
struct DType {
  const char* name;
  torch::ScalarType type;
};
const DType kDTypes[] = {{"F64", torch::kFloat64}, {"F32", torch::kFloat32}, {"F16", torch::kFloat16},
                         {"BF16", torch::kBFloat16}, {"I64", torch::kInt64},  {"I32", torch::kInt32},
                         {"I16", torch::kInt16},     {"I8", torch::kInt8},    {"U8", torch::kUInt8},
                         {"BOOL", torch::kBool}};

torch::ScalarType scalar_type(const std::string& n) {
  for (auto& d : kDTypes)
    if (n == d.name) return d.type;
  throw std::logic_error("safetensors dtype '" + n + "' passed the header check but has no tensor type");
}
const DType* dtype_by_type(torch::ScalarType t) {
  for (auto& d : kDTypes)
    if (t == d.type) return &d;
  return nullptr;
}

}  // namespace

SafeTensors SafeTensors::read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("cannot open safetensors file '{}'", path));
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse(std::move(bytes), path);
}

SafeTensors SafeTensors::read_header(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("cannot open safetensors file '{}'", path));
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) throw std::runtime_error(fmt::format("cannot read the size of '{}': {}", path, ec.message()));
  std::string head(static_cast<size_t>(std::min<uint64_t>(size, 8)), '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  const uint64_t n = safetensors_header_length(head, size, path);
  head.resize(static_cast<size_t>(8 + n));
  in.read(head.data() + 8, static_cast<std::streamsize>(n));
  if (!in) throw std::runtime_error(fmt::format("'{}': the header could not be read", path));
  SafeTensors st;
  st.name_ = path;
  st.header_ = parse_safetensors_header(head, size, path);
  return st;
}

SafeTensors SafeTensors::parse(std::vector<char> bytes, const std::string& name) {
  SafeTensors st;
  st.name_ = name;
  st.header_ = parse_safetensors_header(std::string_view(bytes.data(), bytes.size()), bytes.size(), name);
  st.bytes_ = std::move(bytes);
  st.has_data_ = true;
  return st;
}

std::vector<int64_t> SafeTensors::shape(const std::string& key) const {
  auto it = header_.entries.find(key);
  if (it == header_.entries.end()) throw std::runtime_error(fmt::format("'{}' has no tensor '{}'", name_, key));
  return it->second.shape;
}

std::vector<std::string> SafeTensors::keys() const {
  std::vector<std::string> out;
  for (auto& [k, v] : header_.entries) out.push_back(k);
  return out;
}

torch::Tensor SafeTensors::get(const std::string& key) const {
  auto it = header_.entries.find(key);
  if (it == header_.entries.end()) throw std::runtime_error(fmt::format("'{}' has no tensor '{}'", name_, key));
  if (!has_data_) throw std::runtime_error(fmt::format("'{}': only the header was read; no tensor data", name_));
  const auto& e = it->second;
  auto t = torch::empty(e.shape, torch::TensorOptions().dtype(scalar_type(e.dtype)));
  if (e.end > e.begin) std::memcpy(t.data_ptr(), bytes_.data() + header_.data_start + e.begin, e.end - e.begin);
  return t;  // safetensors is little-endian, as is every machine this engine runs on
}

LoadReport load_state_dict(torch::nn::Module& module, const SafeTensors& file, const std::string& prefix, bool strict,
                           const std::vector<std::string>& ignore) {
  LoadReport report;
  std::set<std::string> used;
  torch::NoGradGuard no_grad;
  auto load_one = [&](const std::string& key, torch::Tensor& target) {
    auto fkey = prefix + key;
    if (!file.has(fkey)) {
      report.missing.push_back(fkey);
      return;
    }
    auto src = file.get(fkey);
    if (src.sizes() != target.sizes())
      throw std::runtime_error(fmt::format("weights: '{}' has shape {} in the file, {} in the model", fkey,
                                           fmt::format("{}", fmt::join(src.sizes(), "x")),
                                           fmt::format("{}", fmt::join(target.sizes(), "x"))));
    if (src.is_floating_point() != target.is_floating_point())
      throw std::runtime_error(fmt::format("weights: '{}' is {} in the file, {} in the model", fkey,
                                           c10::toString(src.scalar_type()), c10::toString(target.scalar_type())));
    target.copy_(src);
    used.insert(fkey);
    ++report.loaded;
  };
  for (auto& item : module.named_parameters(true)) load_one(item.key(), item.value());
  for (auto& item : module.named_buffers(true)) load_one(item.key(), item.value());
  for (auto& k : file.keys()) {
    if (k.rfind(prefix, 0) != 0 || used.count(k)) continue;
    bool skip = false;
    for (auto& ig : ignore)
      if (k.rfind(ig, 0) == 0) skip = true;
    if (!skip) report.unexpected.push_back(k);
  }
  if (strict && (!report.missing.empty() || !report.unexpected.empty())) {
    std::string what = !report.missing.empty() ? fmt::format("missing key '{}'", report.missing.front())
                                               : fmt::format("unexpected key '{}'", report.unexpected.front());
    throw std::runtime_error(fmt::format("weights: {} ({} missing, {} unexpected; set strict: false to load the rest)",
                                         what, report.missing.size(), report.unexpected.size()));
  }
  return report;
}

void write_safetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t offset = 0;
  std::vector<torch::Tensor> data;
  for (auto& [k, t] : tensors) {
    auto c = t.detach().cpu().contiguous();
    const DType* dt = dtype_by_type(c.scalar_type());
    if (!dt) throw std::runtime_error(fmt::format("cannot store tensor '{}' of type {}", k, c10::toString(c.scalar_type())));
    size_t bytes = static_cast<size_t>(c.numel()) * safetensors_element_size(dt->name);
    header[k] = {{"dtype", dt->name}, {"shape", c.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(c);
  }
  std::string h = header.dump();
  while ((8 + h.size()) % 8) h.push_back(' ');  // align the data section, as the reference writer does
  auto tmp = path + ".partial";
  {
    std::ofstream out(tmp, std::ios::binary);
    uint64_t n = h.size();
    char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    out.write(len, 8);
    out.write(h.data(), static_cast<std::streamsize>(h.size()));
    for (auto& c : data) out.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.nbytes()));
    if (!out.flush()) throw std::runtime_error(fmt::format("cannot write '{}'", path));
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace featjnd::plugins
