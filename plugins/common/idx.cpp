#include "featjnd_plugins/idx.h"

#include <cstring>

#include <torch/torch.h>

#include "featjnd_plugins/idx_format.h"

namespace featjnd::plugins {

namespace {
// Far above any IDX dataset (Fashion-MNIST's training images are 47 MB); a gzip bomb stops here.
constexpr size_t kMaxIdxBytes = size_t(4) << 30;
}  // namespace

torch::Tensor parse_idx(const std::vector<unsigned char>& b, int expected_dims, const std::string& name) {
  const auto layout = parse_idx_header(b, expected_dims, name);
  auto t = torch::empty(layout.shape, torch::kUInt8);
  if (layout.numel) std::memcpy(t.data_ptr(), b.data() + layout.data_offset, layout.numel);
  return t;
}

torch::Tensor read_idx(const std::string& path, int expected_dims) {
  return parse_idx(read_gzip_or_plain(path, kMaxIdxBytes), expected_dims, path);
}

}  // namespace featjnd::plugins
