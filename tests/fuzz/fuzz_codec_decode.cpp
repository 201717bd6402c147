// libFuzzer target: the feature-bitstream decoder on arbitrary bytes. Anything but a valid
// bitstream must end in a CodecError; a crash, a sanitizer report or a hang is a bug. Each input
// is tried as it is (the CRC path) and with its CRC-32 made to match, so that mutations reach the
// parser and the rANS decoder behind the checksum.
#include <cstddef>
#include <cstdint>
#include <vector>

#include <zlib.h>

#include "codec/bitstream.h"

namespace {

void try_decode(const uint8_t* data, size_t size) {
  try {
    auto s = featjnd::codec::decode(data, size, uint64_t(1) << 20);
    // What decodes must encode back to the same number of bytes (the format has one spelling of
    // a stream, but for the tables' window choice; decode(encode(s)) must give s back).
    auto again = featjnd::codec::encode(s);
    auto twice = featjnd::codec::decode(again.data(), again.size(), uint64_t(1) << 20);
    if (twice.symbols != s.symbols || twice.log_steps != s.log_steps) __builtin_trap();
  } catch (const featjnd::codec::CodecError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try_decode(data, size);
  if (size >= 12) {
    std::vector<uint8_t> fixed(data, data + size);
    const uint32_t crc = static_cast<uint32_t>(crc32(0L, fixed.data(), static_cast<uInt>(size - 4)));
    for (int i = 0; i < 4; ++i) fixed[size - 4 + i] = static_cast<uint8_t>(crc >> (8 * i));
    try_decode(fixed.data(), fixed.size());
  }
  return 0;
}
