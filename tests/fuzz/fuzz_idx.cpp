// libFuzzer target: the IDX reader's LibTorch-free half (plugins/common/idx_format.cpp) on
// arbitrary bytes written as a file: gzip or plain decompression with a size limit, then the
// header check for one and for three dimensions. Malformed input must end in std::runtime_error;
// what passes must describe exactly the bytes there are (the tensor reader copies numel bytes
// from data_offset without checking again). A crash, a sanitizer report, a hang or a broken
// invariant (a trap) is a bug.
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <string>
#include <unistd.h>

#include "featjnd_plugins/idx_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/featjnd-fuzz-idx-" + std::to_string(getpid());
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  std::vector<unsigned char> bytes;
  try {
    bytes = featjnd::plugins::read_gzip_or_plain(path, size_t(64) << 20);
  } catch (const std::runtime_error&) {
    return 0;
  }
  for (int dims : {1, 3}) {
    try {
      const auto layout = featjnd::plugins::parse_idx_header(bytes, dims, path);
      if (layout.shape.size() != static_cast<size_t>(dims)) __builtin_trap();
      size_t numel = 1;
      for (int64_t d : layout.shape) numel *= static_cast<size_t>(d);
      if (numel != layout.numel || layout.data_offset + layout.numel != bytes.size()) __builtin_trap();
    } catch (const std::runtime_error&) {
    }
  }
  return 0;
}
