#pragma once
#include <string>
#include <vector>

#include <torch/types.h>

namespace featjnd::plugins {

// Reads an IDX file (MNIST / Fashion-MNIST format), gzip-compressed or not, of unsigned bytes:
// a uint8 tensor with the file's dimensions. Throws std::runtime_error naming the file when
// the magic number, the element type, the number of dimensions or the data length is wrong (a
// truncated or oversized file) or the gzip stream is corrupted.
torch::Tensor read_idx(const std::string& path, int expected_dims);

// Parses the decompressed bytes of an IDX file (exposed for tests).
torch::Tensor parse_idx(const std::vector<unsigned char>& bytes, int expected_dims, const std::string& name);

}  // namespace featjnd::plugins
