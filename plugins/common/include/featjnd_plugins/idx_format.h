#pragma once
// The IDX format (MNIST, Fashion-MNIST) without LibTorch: the gzip-or-plain file reader and the
// header check that the tensor reader (idx.h) trusts, and that tests/fuzz feeds arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace featjnd::plugins {

struct IdxLayout {
  std::vector<int64_t> shape;
  size_t data_offset = 0;  // 4 + 4 × dimensions
  size_t numel = 0;        // the product of shape, = bytes.size() - data_offset
};

// Checks an IDX file of unsigned bytes with `expected_dims` dimensions: the magic number, the
// element type, the dimension sizes (no overflow in their product) and that the data length is
// exactly what they announce. Throws std::runtime_error naming `name`.
IdxLayout parse_idx_header(const std::vector<unsigned char>& bytes, int expected_dims, const std::string& name);

// A gzip-compressed or plain file's decompressed bytes; a corrupted or truncated stream, or one
// that decompresses past `max_bytes` (a gzip bomb), throws naming the file.
std::vector<unsigned char> read_gzip_or_plain(const std::string& path, size_t max_bytes);

}  // namespace featjnd::plugins
