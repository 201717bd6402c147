#pragma once
#include <map>
#include <string>
#include <vector>

#include <torch/types.h>

#include "featjnd_plugins/safetensors_header.h"

namespace torch::nn {
class Module;
}

namespace featjnd::plugins {

// A bounds-checked reader of the safetensors format (an 8-byte little-endian header length, a
// JSON header of {name: {dtype, shape, data_offsets}}, then raw little-endian data). Every check
// failure throws std::runtime_error naming the file and, where it applies, the tensor.
class SafeTensors {
 public:
  static SafeTensors read(const std::string& path);
  static SafeTensors parse(std::vector<char> bytes, const std::string& name);
  // Names, shapes and metadata only (a checkpoint's number of classes, say): get() throws.
  static SafeTensors read_header(const std::string& path);

  std::vector<std::string> keys() const;
  bool has(const std::string& key) const { return header_.entries.count(key) != 0; }
  std::vector<int64_t> shape(const std::string& key) const;
  torch::Tensor get(const std::string& key) const;  // a copy, in the stored dtype
  // The header's __metadata__ (string to string, as the format defines it).
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }

 private:
  std::string name_;
  std::vector<char> bytes_;
  bool has_data_ = false;
  SafeTensorsHeader header_;  // checked against the file's size before any tensor is made
};

struct LoadReport {
  std::vector<std::string> missing;     // in the module, not in the file
  std::vector<std::string> unexpected;  // in the file, not in the module
  size_t loaded = 0;
};

// Copies tensors into the module's parameters and buffers by state-dict name (torchvision/timm
// keys). `file_prefix` is prepended to each module key when looking it up in the file, and
// file keys outside that prefix are not "unexpected". A shape or dtype-kind mismatch always
// throws, naming the key; missing or unexpected keys throw when `strict`.
LoadReport load_state_dict(torch::nn::Module& module, const SafeTensors& file, const std::string& file_prefix,
                           bool strict, const std::vector<std::string>& ignore_file_prefixes = {});

// Writes tensors in the safetensors format (used for checkpoints and by the tests), with the
// header's string-to-string "__metadata__" when `metadata` is not empty.
void write_safetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace featjnd::plugins
