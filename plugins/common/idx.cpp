#include "featjnd_plugins/idx.h"

#include <cstdint>
#include <cstring>

#include <fmt/format.h>
#include <torch/torch.h>
#include <zlib.h>

namespace featjnd::plugins {

namespace {
// Far above any IDX dataset (Fashion-MNIST's training images are 47 MB); a gzip bomb stops here.
constexpr size_t kMaxIdxBytes = size_t(4) << 30;
}  // namespace

torch::Tensor parse_idx(const std::vector<unsigned char>& b, int expected_dims, const std::string& name) {
  auto bad = [&](const std::string& what) {
    return std::runtime_error(fmt::format("'{}' is not a valid IDX file: {}", name, what));
  };
  if (b.size() < 4) throw bad("shorter than its 4-byte magic number");
  if (b[0] != 0 || b[1] != 0) throw bad("the magic number does not start with two zero bytes");
  if (b[2] != 0x08) throw bad(fmt::format("element type 0x{:02x}; expected 0x08 (unsigned byte)", b[2]));
  int dims = b[3];
  if (dims != expected_dims) throw bad(fmt::format("{} dimensions; expected {}", dims, expected_dims));
  size_t header = 4 + 4 * static_cast<size_t>(dims);
  if (b.size() < header) throw bad("truncated inside the dimension sizes");
  std::vector<int64_t> shape;
  size_t numel = 1;
  for (int d = 0; d < dims; ++d) {
    const unsigned char* p = &b[4 + 4 * static_cast<size_t>(d)];
    uint32_t v = (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
    shape.push_back(v);
    // A header is never trusted: three sizes of 2^32 - 1 wrap a 64-bit product.
    if (v != 0 && numel > SIZE_MAX / v)
      throw bad(fmt::format("the dimension sizes overflow the element count at dimension {}", d));
    numel *= v;
  }
  size_t have = b.size() - header;
  if (have < numel) throw bad(fmt::format("truncated: {} data bytes, the header announces {}", have, numel));
  if (have > numel) throw bad(fmt::format("{} bytes after the announced {} data bytes", have - numel, numel));
  auto t = torch::empty(shape, torch::kUInt8);
  if (numel) std::memcpy(t.data_ptr(), b.data() + header, numel);
  return t;
}

torch::Tensor read_idx(const std::string& path, int expected_dims) {
  gzFile f = gzopen(path.c_str(), "rb");  // reads plain files too
  if (!f) throw std::runtime_error(fmt::format("cannot open IDX file '{}'", path));
  std::vector<unsigned char> bytes;
  unsigned char buf[1 << 16];
  while (true) {
    int n = gzread(f, buf, sizeof(buf));
    if (n < 0) {
      int err = 0;
      std::string msg = gzerror(f, &err);
      gzclose(f);
      throw std::runtime_error(fmt::format("'{}' is not a valid gzip stream: {}", path, msg));
    }
    if (n == 0) break;
    if (bytes.size() + static_cast<size_t>(n) > kMaxIdxBytes) {
      gzclose(f);
      throw std::runtime_error(fmt::format("'{}' decompresses to more than {} bytes, the IDX reader's limit", path,
                                           kMaxIdxBytes));
    }
    bytes.insert(bytes.end(), buf, buf + n);
  }
  // gzread reports a truncated stream only through gzerror once the end is reached.
  int err = 0;
  std::string msg = gzerror(f, &err);
  gzclose(f);
  if (err != Z_OK && err != Z_STREAM_END)
    throw std::runtime_error(fmt::format("'{}' is not a valid gzip stream: {}", path, msg));
  return parse_idx(bytes, expected_dims, path);
}

}  // namespace featjnd::plugins
