#include "featjnd_plugins/idx_format.h"

#include <stdexcept>

#include <fmt/format.h>
#include <zlib.h>

namespace featjnd::plugins {

IdxLayout parse_idx_header(const std::vector<unsigned char>& b, int expected_dims, const std::string& name) {
  auto bad = [&](const std::string& what) {
    return std::runtime_error(fmt::format("'{}' is not a valid IDX file: {}", name, what));
  };
  if (b.size() < 4) throw bad("shorter than its 4-byte magic number");
  if (b[0] != 0 || b[1] != 0) throw bad("the magic number does not start with two zero bytes");
  if (b[2] != 0x08) throw bad(fmt::format("element type 0x{:02x}; expected 0x08 (unsigned byte)", b[2]));
  const int dims = b[3];
  if (dims != expected_dims) throw bad(fmt::format("{} dimensions; expected {}", dims, expected_dims));
  IdxLayout layout;
  layout.data_offset = 4 + 4 * static_cast<size_t>(dims);
  if (b.size() < layout.data_offset) throw bad("truncated inside the dimension sizes");
  size_t numel = 1;
  for (int d = 0; d < dims; ++d) {
    const unsigned char* p = &b[4 + 4 * static_cast<size_t>(d)];
    const uint32_t v =
        (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
    layout.shape.push_back(v);
    // A header is never trusted: three sizes of 2^32 - 1 wrap a 64-bit product.
    if (v != 0 && numel > SIZE_MAX / v)
      throw bad(fmt::format("the dimension sizes overflow the element count at dimension {}", d));
    numel *= v;
  }
  const size_t have = b.size() - layout.data_offset;
  if (have < numel) throw bad(fmt::format("truncated: {} data bytes, the header announces {}", have, numel));
  if (have > numel) throw bad(fmt::format("{} bytes after the announced {} data bytes", have - numel, numel));
  layout.numel = numel;
  return layout;
}

std::vector<unsigned char> read_gzip_or_plain(const std::string& path, size_t max_bytes) {
  gzFile f = gzopen(path.c_str(), "rb");  // reads plain files too
  if (!f) throw std::runtime_error(fmt::format("cannot open IDX file '{}'", path));
  auto fail = [&](const std::string& what) {
    gzclose(f);
    return std::runtime_error(what);
  };
  std::vector<unsigned char> bytes;
  unsigned char buf[1 << 16];
  while (true) {
    const int n = gzread(f, buf, sizeof(buf));
    int err = 0;
    if (n < 0) throw fail(fmt::format("'{}' is not a valid gzip stream: {}", path, gzerror(f, &err)));
    if (n == 0) break;
    if (bytes.size() + static_cast<size_t>(n) > max_bytes)
      throw fail(fmt::format("'{}' decompresses to more than {} bytes, the reader's limit", path, max_bytes));
    bytes.insert(bytes.end(), buf, buf + n);
  }
  // gzread reports a truncated stream only through gzerror once the end is reached.
  int err = 0;
  const std::string msg = gzerror(f, &err);
  gzclose(f);
  if (err != Z_OK && err != Z_STREAM_END)
    throw std::runtime_error(fmt::format("'{}' is not a valid gzip stream: {}", path, msg));
  return bytes;
}

}  // namespace featjnd::plugins
