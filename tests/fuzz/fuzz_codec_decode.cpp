// libFuzzer target: the feature-bitstream decoder on arbitrary bytes. Anything but a valid
// bitstream must end in a CodecError; a crash, a sanitizer report or a hang is a bug. Each input
// is tried as it is (the CRC path) and with its CRC-32 made to match, so that mutations reach the
// parser and the rANS decoders behind the checksum.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include <zlib.h>

#include "codec/bitstream.h"

namespace {

// The decoded stream, or nothing when the decoder refused the input.
std::optional<featjnd::codec::Stream> decoded(const uint8_t* data, size_t size, bool simd) {
  try {
    return featjnd::codec::decode(data, size, uint64_t(1) << 20, simd);
  } catch (const featjnd::codec::CodecError&) {
    return std::nullopt;
  }
}

void try_decode(const uint8_t* data, size_t size) {
  // Version 2's AVX2 decoder (where the CPU has it) and its scalar decoder accept and refuse the
  // same inputs and decode them to the same values.
  auto s = decoded(data, size, true);
  auto scalar = decoded(data, size, false);
  if (s.has_value() != scalar.has_value()) __builtin_trap();
  if (!s) return;
  if (scalar->symbols != s->symbols || scalar->log_steps != s->log_steps) __builtin_trap();
  // What decodes must encode back to a stream that decodes to it (decode(encode(s)) == s), and
  // the AVX2 encoder (where the CPU has it) must write the scalar encoder's bytes.
  auto again = featjnd::codec::encode(*s);
  if (featjnd::codec::encode(*s, nullptr, featjnd::codec::kVersion, false) != again) __builtin_trap();
  auto twice = decoded(again.data(), again.size(), true);
  if (!twice || twice->symbols != s->symbols || twice->log_steps != s->log_steps) __builtin_trap();
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
