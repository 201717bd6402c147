#include "featjnd_plugins/safetensors.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string_view>

#include <fmt/format.h>
#include <featjnd/json_limits.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace featjnd::plugins {
namespace {

constexpr uint64_t kMaxHeader = 100u << 20;  // the format's own limit

struct DType {
  const char* name;
  torch::ScalarType type;
  size_t size;
};
const DType kDTypes[] = {{"F64", torch::kFloat64, 8}, {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2},
                         {"BF16", torch::kBFloat16, 2}, {"I64", torch::kInt64, 8}, {"I32", torch::kInt32, 4},
                         {"I16", torch::kInt16, 2},     {"I8", torch::kInt8, 1},     {"U8", torch::kUInt8, 1},
                         {"BOOL", torch::kBool, 1}};

const DType* dtype_by_name(const std::string& n) {
  for (auto& d : kDTypes)
    if (n == d.name) return &d;
  return nullptr;
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
  std::vector<char> head(static_cast<size_t>(std::min<uint64_t>(size, 8)));
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  const uint64_t n = header_length(head, size, path);
  head.resize(static_cast<size_t>(8 + n));
  in.read(head.data() + 8, static_cast<std::streamsize>(n));
  if (!in) throw std::runtime_error(fmt::format("'{}': the header could not be read", path));
  SafeTensors st;
  st.name_ = path;
  st.index(head, size - 8 - n);
  return st;
}

uint64_t SafeTensors::header_length(const std::vector<char>& bytes, uint64_t file_size, const std::string& name) {
  auto bad = [&](const std::string& what) {
    return std::runtime_error(fmt::format("'{}' is not a valid safetensors file: {}", name, what));
  };
  if (file_size < 8 || bytes.size() < 8)
    throw bad(fmt::format("{} bytes, shorter than the 8-byte header length", file_size));
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<size_t>(i)]);
  if (n > kMaxHeader) throw bad(fmt::format("header length {} exceeds the 100 MiB limit", n));
  if (n > file_size - 8) throw bad(fmt::format("header length {} runs past the end of the file ({} bytes)", n, file_size));
  return n;
}

SafeTensors SafeTensors::parse(std::vector<char> bytes, const std::string& name) {
  SafeTensors st;
  st.name_ = name;
  const uint64_t n = header_length(bytes, bytes.size(), name);
  st.index(bytes, bytes.size() - 8 - n);
  st.bytes_ = std::move(bytes);
  st.has_data_ = true;
  return st;
}

// Reads the JSON header at bytes[8, 8 + n) and checks every entry against the data length.
void SafeTensors::index(const std::vector<char>& bytes, uint64_t data_len) {
  const auto& name = name_;
  auto bad = [&](const std::string& what) {
    return std::runtime_error(fmt::format("'{}' is not a valid safetensors file: {}", name, what));
  };
  const uint64_t n = header_length(bytes, bytes.size() + data_len, name);
  // The format's rules: the header starts with '{' (no byte-order mark) and may be padded at the
  // end with spaces only (a NUL would end the text early for some readers and not for others).
  const std::string_view text(bytes.data() + 8, static_cast<size_t>(n));
  if (text.empty() || text.front() != '{')
    throw bad(text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF" ? "the header starts with a UTF-8 byte-order mark"
                                                                      : "the header does not start with '{'");
  const auto last = text.find_last_not_of(' ');
  if (text[last] != '}') throw bad("the header is padded with something other than spaces after its closing '}'");
  if (text.find('\0') != std::string_view::npos) throw bad("the header contains a NUL byte");
  if (auto deep = json_depth_error(text); !deep.empty()) throw bad("the header has " + deep);
  auto header = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (header.is_discarded() || !header.is_object()) throw bad("the header is not a JSON object");
  data_start_ = 8 + n;
  std::vector<std::pair<size_t, size_t>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it.value().is_object()) throw bad("__metadata__ is not an object");
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (!m.value().is_string()) throw bad(fmt::format("__metadata__ value '{}' is not a string", m.key()));
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const auto& e = it.value();
    auto where = fmt::format("tensor '{}'", it.key());
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
      throw bad(where + " lacks dtype, shape or data_offsets");
    if (!e["dtype"].is_string()) throw bad(where + ": dtype is not a string");
    const DType* dt = dtype_by_name(e["dtype"].get<std::string>());
    if (!dt) throw bad(fmt::format("{}: unknown dtype '{}'", where, e["dtype"].get<std::string>()));
    Entry entry;
    entry.dtype = dt->type;
    size_t numel = 1;
    if (!e["shape"].is_array()) throw bad(where + ": shape is not an array");
    for (auto& d : e["shape"]) {
      if (!d.is_number_unsigned()) throw bad(where + ": shape has a negative or non-integer size");
      const uint64_t dim = d.get<uint64_t>();
      // A header is never trusted: a size product that wraps would pass the offset check below.
      if (dim > static_cast<uint64_t>(INT64_MAX) || (dim != 0 && numel > SIZE_MAX / dim / dt->size))
        throw bad(fmt::format("{}: shape {} overflows the element count", where, e["shape"].dump()));
      entry.shape.push_back(static_cast<int64_t>(dim));
      numel *= static_cast<size_t>(dim);
    }
    const auto& off = e["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw bad(where + ": data_offsets is not [begin, end]");
    entry.begin = off[0].get<size_t>();
    entry.end = off[1].get<size_t>();
    if (entry.begin > entry.end || entry.end > data_len)
      throw bad(fmt::format("{}: data_offsets [{}, {}] outside the {} data bytes (file truncated?)", where,
                            entry.begin, entry.end, data_len));
    if (entry.end - entry.begin != numel * dt->size)
      throw bad(fmt::format("{}: {} bytes for {} elements of {}", where, entry.end - entry.begin, numel, dt->name));
    ranges.push_back({entry.begin, entry.end});
    entries_[it.key()] = entry;
  }
  // The data section must be covered exactly: no overlap, no hole, nothing trailing.
  std::sort(ranges.begin(), ranges.end());
  size_t pos = 0;
  for (auto& [b, e] : ranges) {
    if (b != pos) throw bad(fmt::format("tensor data overlaps or leaves a hole at byte {}", pos));
    pos = e;
  }
  if (pos != data_len) throw bad(fmt::format("{} bytes after the last tensor", data_len - pos));
}

std::vector<int64_t> SafeTensors::shape(const std::string& key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) throw std::runtime_error(fmt::format("'{}' has no tensor '{}'", name_, key));
  return it->second.shape;
}

std::vector<std::string> SafeTensors::keys() const {
  std::vector<std::string> out;
  for (auto& [k, v] : entries_) out.push_back(k);
  return out;
}

torch::Tensor SafeTensors::get(const std::string& key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) throw std::runtime_error(fmt::format("'{}' has no tensor '{}'", name_, key));
  if (!has_data_) throw std::runtime_error(fmt::format("'{}': only the header was read; no tensor data", name_));
  const auto& e = it->second;
  auto t = torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype));
  if (e.end > e.begin) std::memcpy(t.data_ptr(), bytes_.data() + data_start_ + e.begin, e.end - e.begin);
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

void write_safetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors) {
  nlohmann::json header = nlohmann::json::object();
  size_t offset = 0;
  std::vector<torch::Tensor> data;
  for (auto& [k, t] : tensors) {
    auto c = t.detach().cpu().contiguous();
    const DType* dt = dtype_by_type(c.scalar_type());
    if (!dt) throw std::runtime_error(fmt::format("cannot store tensor '{}' of type {}", k, c10::toString(c.scalar_type())));
    size_t bytes = static_cast<size_t>(c.numel()) * dt->size;
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
