#include "codec/interleaved.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>

namespace featjnd::codec::interleaved {

int ways_for(size_t n) { return n >= 32 * 512 ? 32 : n >= 8 * 256 ? 8 : 1; }

Tables::Tables(const Model& m)
    : bits(m.bits()), mask((1u << m.bits()) - 1), lo(m.lo()), size(m.size()) {
  if (bits < 12 || bits > 15) throw CodecError("an interleaved rANS table has " + std::to_string(bits) + " bits; 12 to 15");
  if (int64_t(lo) + size > std::numeric_limits<int32_t>::max())
    throw CodecError("an interleaved rANS table's alphabet reaches past 2^31");
  marker = lo + static_cast<int32_t>(size);
  const size_t slots = size_t(1) << bits;
  entry.resize(slots);
  value.resize(slots);
  for (size_t s = 0; s < slots; ++s) {
    const uint32_t i = m.index_of_slot(static_cast<uint32_t>(s));
    entry[s] = m.freq(i) << 16 | (static_cast<uint32_t>(s) - m.start(i));
    value[s] = lo + static_cast<int32_t>(i);  // the escape's index is n: the marker
  }
  if (bits == 12 && size + 1 <= 128) {  // freq <= 2^12 (13 bits), offset < 2^12, index < 2^7
    packed.resize(slots);
    for (size_t s = 0; s < slots; ++s) {
      const uint32_t i = m.index_of_slot(static_cast<uint32_t>(s));
      packed[s] = i << 25 | m.freq(i) << 12 | (static_cast<uint32_t>(s) - m.start(i));
    }
  }
  // x / freq as a multiply by a rounded-up reciprocal and a shift (Alverson's method), exact for
  // every x < 2^31 — the states' range — so the encoder needs no division (the unit test checks
  // it against one).
  encode.resize(size + 1);
  freq_start.resize(size + 1);
  rcp.resize(size + 1);
  for (uint32_t i = 0; i <= size; ++i) {
    const uint32_t f = m.freq(i), start = m.start(i);
    freq_start[i] = f | start << 16;  // f <= 2^15, start < 2^15
    auto& e = encode[i];
    e.x_max = f << (31 - bits);  // ((kL >> bits) << 16) · f
    e.cmpl_freq = static_cast<uint16_t>((1u << bits) - f);
    if (f < 2) {  // q = x − 1 and bias + 2^bits − 1: x·2^bits + start in the same formula
      e.rcp_freq = ~0u;
      e.rcp_shift = 0;
      e.bias = start + (1u << bits) - 1;
    } else {
      uint32_t shift = 0;
      while (f > (1u << shift)) ++shift;
      e.rcp_freq = static_cast<uint32_t>(((uint64_t(1) << (shift + 31)) + f - 1) / f);
      e.rcp_shift = static_cast<uint16_t>(shift - 1);
      e.bias = start;
    }
    rcp[i] = e.rcp_freq;
  }
}

void encode(const Tables& t, const int32_t* v, size_t n, int ways, std::vector<uint8_t>& out,
            std::vector<int32_t>* escaped, bool simd) {
  if (ways != 1 && ways != 8 && ways != 32) throw std::invalid_argument("interleaved rANS: 1, 8 or 32 ways");
  uint32_t x[kMaxWays];
  std::fill(x, x + ways, kL);
  // At most one word per symbol, written from the end towards the front (the decoder reads them
  // front to back). The renormalisation is branch-free: the word is always stored and the write
  // position moves only when it is kept — whether a state overflows is a coin toss a branch
  // predictor loses about as often as the symbols carry bits.
  // The AVX2 kernel stores 8 words below the position at a time: 8 words of room below the lowest.
  std::unique_ptr<uint16_t[]> words(new uint16_t[n + 8]);
  uint16_t* const words_end = words.get() + n + 8;
  uint16_t* w = words_end;
  size_t escapes = 0;
  const uint64_t size = t.size;
  // The symbols from the last down to a multiple of 8 one at a time, the rest by the AVX2 kernel.
  const bool vector = simd && ways >= 8 && n >= 8 && simd_available();
  const size_t stop = vector ? n - n % 8 : 0;
  for (size_t k = n; k-- > stop;) {
    const uint64_t i = static_cast<uint64_t>(int64_t(v[k]) - t.lo);  // out of the alphabet: >= size
    const bool in = i < size;
    escapes += !in;
    const auto& e = t.encode[in ? i : size];
    uint32_t& s = x[k & static_cast<size_t>(ways - 1)];  // ways: a power of two
    const bool renorm = s >= e.x_max;
    w[-1] = static_cast<uint16_t>(s);
    w -= renorm;
    s = renorm ? s >> 16 : s;
    const uint32_t q = static_cast<uint32_t>((uint64_t(s) * e.rcp_freq) >> 32) >> e.rcp_shift;
    s += e.bias + q * e.cmpl_freq;
  }
  if (vector) escapes += encode_avx2(t, x, ways, v, stop, w);
  if (escapes && escaped) {
    for (size_t k = 0; k < n; ++k)
      if (int64_t(v[k]) < t.lo || int64_t(v[k]) >= int64_t(t.lo) + t.size) escaped->push_back(v[k]);
  }
  const size_t count = static_cast<size_t>(words_end - w);
  const size_t at = out.size();
  out.resize(at + 4 * size_t(ways) + 2 * count);
  uint8_t* p = out.data() + at;
  for (int k = 0; k < ways; ++k)
    for (int b = 0; b < 4; ++b) *p++ = static_cast<uint8_t>(x[k] >> (8 * b));
  if constexpr (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) {  // little-endian words: a copy
    std::memcpy(p, w, 2 * count);
  } else {
    for (size_t k = 0; k < count; ++k) p[2 * k] = static_cast<uint8_t>(w[k]), p[2 * k + 1] = static_cast<uint8_t>(w[k] >> 8);
  }
}

bool simd_available() {
  static const bool on = [] {
    const char* env = std::getenv("FEATJND_CODEC_SIMD");
    if (env && std::string(env) == "0") return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0 && __builtin_cpu_supports("popcnt") != 0;
  }();
  return on;
}

namespace {

[[noreturn]] void fail(const std::string& what, const std::string& why) { throw CodecError(what + ": " + why); }

// Symbols from index k on, one at a time, with every bound checked.
void decode_scalar(const Tables& t, uint32_t* x, int ways, const uint8_t*& p, const uint8_t* end, int32_t* out,
                   size_t k, size_t n, const std::string& what, size_t& markers) {
  for (; k < n; ++k) {
    uint32_t& s = x[k & static_cast<size_t>(ways - 1)];
    const uint32_t slot = s & t.mask, e = t.entry[slot];
    out[k] = t.value[slot];
    markers += out[k] == t.marker;
    s = (e >> 16) * (s >> t.bits) + (e & 0xffff);
    if (s < kL) {
      if (end - p < 2) fail(what, "truncated (the coded symbols run past the end)");
      s = s << 16 | uint32_t(p[0]) | uint32_t(p[1]) << 8;
      p += 2;
    }
  }
}

// The markers the decoder wrote for escapes, replaced by the escaped values in order.
void fill_escapes(const Tables& t, int32_t* out, size_t n, const std::vector<int32_t>& escaped, const std::string& what) {
  size_t used = 0;
  for (size_t k = 0; k < n; ++k) {
    if (out[k] != t.marker) continue;
    if (used == escaped.size()) fail(what, "more escapes than escaped values");
    const int32_t v = escaped[used++];
    if (v >= t.lo && v < t.marker) fail(what, "an escaped value lies inside its table's alphabet");
    out[k] = v;
  }
  if (used != escaped.size()) fail(what, std::to_string(escaped.size() - used) + " escaped values left unused");
}

}  // namespace

void decode(const Tables& t, const uint8_t* data, size_t size, int ways, int32_t* out, size_t n,
            const std::vector<int32_t>& escaped, const std::string& what, bool simd) {
  if (ways != 1 && ways != 8 && ways != 32) fail(what, "an interleaved stream of " + std::to_string(ways) + " ways");
  if (size < 4 * size_t(ways)) fail(what, "shorter than its coder states");
  uint32_t x[kMaxWays];
  for (int w = 0; w < ways; ++w) {
    const uint8_t* b = data + 4 * w;
    x[w] = uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16 | uint32_t(b[3]) << 24;
    // In [2^15, 2^31): then every state stays there whatever the words are, and the scalar and
    // the AVX2 decoder (which compares as signed) agree on any input.
    if (x[w] < kL || x[w] >= (1u << 31)) fail(what, "a coder state is out of range");
  }
  const uint8_t* p = data + 4 * ways;
  const uint8_t* end = data + size;
  size_t k = 0, markers = 0;
  if (simd && ways >= 8 && simd_available()) k = decode_avx2(t, x, ways, p, end, out, n, markers);
  decode_scalar(t, x, ways, p, end, out, k, n, what, markers);
  if (p != end) fail(what, std::to_string(end - p) + " bytes left after the last symbol");
  for (int w = 0; w < ways; ++w)
    if (x[w] != kL) fail(what, "the coder did not return to its initial state (corrupted data)");
  if (markers != escaped.size()) fail(what, std::to_string(markers) + " escapes for " + std::to_string(escaped.size()) + " escaped values");
  if (markers) fill_escapes(t, out, n, escaped, what);
}

}  // namespace featjnd::codec::interleaved
