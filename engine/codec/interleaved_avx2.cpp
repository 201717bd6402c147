// The AVX2 kernels of the interleaved rANS coder (interleaved.h): eight states per register.
// One step of a register decodes eight symbols: the slots (x & mask), two gathers (freq << 16 |
// offset, and the value; one where the table is packed, Tables::packed), x = freq · (x >> bits) + offset, then the lanes whose state fell below
// 2^15 take the next 16-bit words of the stream in lane order — the words are loaded eight at a
// time and moved to their lanes by a permutation looked up from the mask of those lanes. Compiled
// for AVX2 by function attributes and called only where the CPU has it (simd_available()).
#include <immintrin.h>

#include <cstring>

#include "codec/interleaved.h"

namespace featjnd::codec::interleaved {
namespace {

// For each mask of reading lanes (bit l: lane l reads), the word each lane takes: the number of
// reading lanes below it (unused for lanes that do not read).
struct Expand {
  alignas(32) int32_t index[256][8];
  Expand() {
    for (int m = 0; m < 256; ++m)
      for (int l = 0, c = 0; l < 8; ++l) index[m][l] = (m >> l) & 1 ? c++ : 0;
  }
};
const Expand kExpand;

struct Kernel {
  const int* entry;
  const int* value;
  const int* packed;  // Tables::packed, or null
  __m128i shift;
  __m256i mask, low16, lower_bound, marker, lo, low12, low13;
};

// The lanes whose state fell below 2^15 take the next 16-bit words of the stream, in lane order.
__attribute__((target("avx2,popcnt"))) inline __m256i renormalise(const Kernel& k, __m256i x, const uint8_t*& p) {
  const __m256i reads = _mm256_cmpgt_epi32(k.lower_bound, x);  // states < 2^31: a signed compare is exact
  const int m = _mm256_movemask_ps(_mm256_castsi256_ps(reads));
  const __m256i words = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  const __m256i mine = _mm256_permutevar8x32_epi32(words, _mm256_load_si256(reinterpret_cast<const __m256i*>(kExpand.index[m])));
  p += 2 * __builtin_popcount(static_cast<unsigned>(m));
  return _mm256_blendv_epi8(x, _mm256_or_si256(_mm256_slli_epi32(x, 16), mine), reads);
}

// A step with the packed table: one gather gives the frequency, the offset and the index.
__attribute__((target("avx2,popcnt"))) inline __m256i step_packed(const Kernel& k, __m256i x, int32_t*& out,
                                                                     const uint8_t*& p, __m256i& markers) {
  const __m256i e = _mm256_i32gather_epi32(k.packed, _mm256_and_si256(x, k.mask), 4);
  const __m256i value = _mm256_add_epi32(k.lo, _mm256_srli_epi32(e, 25));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), value);
  markers = _mm256_add_epi32(markers, _mm256_cmpeq_epi32(value, k.marker));
  out += 8;
  const __m256i freq = _mm256_and_si256(_mm256_srli_epi32(e, 12), k.low13);
  x = _mm256_add_epi32(_mm256_mullo_epi32(freq, _mm256_srl_epi32(x, k.shift)), _mm256_and_si256(e, k.low12));
  return renormalise(k, x, p);
}

// One step of one register; `markers` counts, per lane, the escape markers written (minus: a
// compare yields -1), so that the caller scans the output for them only when there are some.
__attribute__((target("avx2,popcnt"))) inline __m256i step(const Kernel& k, __m256i x, int32_t*& out,
                                                              const uint8_t*& p, __m256i& markers) {
  const __m256i slot = _mm256_and_si256(x, k.mask);
  const __m256i e = _mm256_i32gather_epi32(k.entry, slot, 4);
  const __m256i value = _mm256_i32gather_epi32(k.value, slot, 4);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), value);
  markers = _mm256_add_epi32(markers, _mm256_cmpeq_epi32(value, k.marker));
  out += 8;
  const __m256i freq = _mm256_srli_epi32(e, 16);
  x = _mm256_add_epi32(_mm256_mullo_epi32(freq, _mm256_srl_epi32(x, k.shift)), _mm256_and_si256(e, k.low16));
  return renormalise(k, x, p);
}

// Whole rounds of `ways` symbols (V registers) while the stream has the 16·V bytes a round may read.
template <int V, bool Packed>
__attribute__((target("avx2,popcnt"))) size_t rounds(const Kernel& k, uint32_t* states, const uint8_t*& pos,
                                                     const uint8_t* end, int32_t* out, size_t n, size_t& markers) {
  __m256i x[V];
  // A lane counts at most n / 8 markers: 32 bits hold them for any level below 2^34 elements.
  __m256i hits = _mm256_setzero_si256();
  for (int v = 0; v < V; ++v) x[v] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(states + 8 * v));
  const uint8_t* p = pos;
  int32_t* o = out;
  size_t done = 0;
  while (done + 8 * V <= n && end - p >= 16 * V) {
    for (int v = 0; v < V; ++v) x[v] = Packed ? step_packed(k, x[v], o, p, hits) : step(k, x[v], o, p, hits);
    done += 8 * V;
  }
  for (int v = 0; v < V; ++v) _mm256_storeu_si256(reinterpret_cast<__m256i*>(states + 8 * v), x[v]);
  pos = p;
  alignas(32) uint32_t lanes[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_sub_epi32(_mm256_setzero_si256(), hits));
  for (uint32_t c : lanes) markers += c;
  return done;
}

// The encoder's step of eight symbols k0 … k0 + 7 (lane l: symbol k0 + l, its own state). The
// words of the lanes that renormalise are written in lane order just below the write position:
// for each mask of such lanes, the byte shuffle that moves their 16-bit words to the top of a
// 16-byte register, so that one store ending at the write position puts them in place (what it
// writes below them is overwritten by the next steps).
struct Compress {
  alignas(16) uint8_t shuffle[256][16];
  Compress() {
    for (int m = 0; m < 256; ++m) {
      std::memset(shuffle[m], 0x80, 16);
      const int kept = __builtin_popcount(static_cast<unsigned>(m));
      for (int l = 0, j = 8 - kept; l < 8; ++l)
        if ((m >> l) & 1) shuffle[m][2 * j] = static_cast<uint8_t>(2 * l), shuffle[m][2 * j + 1] = static_cast<uint8_t>(2 * l + 1), ++j;
    }
  }
};
const Compress kCompress;

struct EncodeKernel {
  const int* freq_start;  // Tables::freq_start: freq | start << 16
  const int* rcp;         // Tables::rcp
  __m128i x_max_shift;    // 31 − bits: x_max = freq << (31 − bits)
  __m256i lo, end, size, low16, one_less_scale, scale, two, one, exponent_bias;
};

__attribute__((target("avx2,popcnt"))) inline __m256i encode_step(const EncodeKernel& k, __m256i x, const int32_t* v,
                                                                     uint16_t*& w, int& escapes) {
  const __m256i value = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v));
  // In the alphabet: lo <= v < lo + n (lo + n fits in int32: Tables' constructor checks it).
  const __m256i in = _mm256_andnot_si256(_mm256_cmpgt_epi32(k.lo, value), _mm256_cmpgt_epi32(k.end, value));
  escapes += 8 - __builtin_popcount(static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(in))));
  const __m256i index = _mm256_blendv_epi8(k.size, _mm256_sub_epi32(value, k.lo), in);
  const __m256i fs = _mm256_i32gather_epi32(k.freq_start, index, 4);
  const __m256i rcp = _mm256_i32gather_epi32(k.rcp, index, 4);
  // What Tables::encode holds, from the frequency: x_max = f·2^(31−bits), cmpl_freq = 2^bits − f,
  // bias = start (+ 2^bits − 1 where f = 1) and rcp_shift = floor(log2(max(f − 1, 1))), the
  // exponent of that number as a float (exact: it is below 2^16).
  const __m256i freq = _mm256_and_si256(fs, k.low16);
  const __m256i x_max = _mm256_sll_epi32(freq, k.x_max_shift);
  const __m256i single = _mm256_cmpgt_epi32(k.two, freq);  // f = 1
  const __m256i bias = _mm256_add_epi32(_mm256_srli_epi32(fs, 16), _mm256_and_si256(single, k.one_less_scale));
  const __m256i below = _mm256_max_epi32(_mm256_sub_epi32(freq, k.one), k.one);
  const __m256i shift = _mm256_sub_epi32(_mm256_srli_epi32(_mm256_castps_si256(_mm256_cvtepi32_ps(below)), 23), k.exponent_bias);
  const __m256i cmpl = _mm256_sub_epi32(k.scale, freq);
  // States and x_max are below 2^31: the signed compare is exact.
  const __m256i renorm = _mm256_xor_si256(_mm256_cmpgt_epi32(x_max, x), _mm256_set1_epi32(-1));
  const int m = _mm256_movemask_ps(_mm256_castsi256_ps(renorm));
  const __m256i low = _mm256_and_si256(x, k.low16);
  const __m128i words = _mm_packus_epi32(_mm256_castsi256_si128(low), _mm256_extracti128_si256(low, 1));
  const __m128i kept = _mm_shuffle_epi8(words, _mm_load_si128(reinterpret_cast<const __m128i*>(kCompress.shuffle[m])));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(w - 8), kept);
  w -= __builtin_popcount(static_cast<unsigned>(m));
  x = _mm256_blendv_epi8(x, _mm256_srli_epi32(x, 16), renorm);
  // q = (x · rcp) >> 32 >> shift: the high halves of the even and of the odd lanes' products.
  const __m256i even = _mm256_srli_epi64(_mm256_mul_epu32(x, rcp), 32);
  const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(rcp, 32));
  const __m256i q = _mm256_srlv_epi32(_mm256_blend_epi32(even, odd, 0xaa), shift);
  return _mm256_add_epi32(_mm256_add_epi32(x, bias), _mm256_mullo_epi32(q, cmpl));
}

}  // namespace

__attribute__((target("avx2,popcnt"))) size_t encode_avx2(const Tables& t, uint32_t* states, int ways, const int32_t* v,
                                                          size_t n, uint16_t*& w) {
  const int scale = 1 << t.bits;
  const EncodeKernel k{reinterpret_cast<const int*>(t.freq_start.data()), reinterpret_cast<const int*>(t.rcp.data()),
                       _mm_cvtsi32_si128(static_cast<int>(31 - t.bits)), _mm256_set1_epi32(t.lo),
                       _mm256_set1_epi32(t.marker), _mm256_set1_epi32(static_cast<int>(t.size)), _mm256_set1_epi32(0xffff),
                       _mm256_set1_epi32(scale - 1), _mm256_set1_epi32(scale), _mm256_set1_epi32(2),
                       _mm256_set1_epi32(1), _mm256_set1_epi32(127)};
  const int registers = ways / 8;
  __m256i x[4];
  for (int r = 0; r < registers; ++r) x[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(states + 8 * r));
  int escapes = 0;
  for (size_t k0 = n; k0 >= 8;) {
    k0 -= 8;
    const int r = static_cast<int>((k0 >> 3) & static_cast<size_t>(registers - 1));
    x[r] = encode_step(k, x[r], v + k0, w, escapes);
  }
  for (int r = 0; r < registers; ++r) _mm256_storeu_si256(reinterpret_cast<__m256i*>(states + 8 * r), x[r]);
  return static_cast<size_t>(escapes);
}

__attribute__((target("avx2,popcnt"))) size_t decode_avx2(const Tables& t, uint32_t* states, int ways,
                                                          const uint8_t*& pos, const uint8_t* end, int32_t* out,
                                                          size_t n, size_t& markers) {
  const bool packed = !t.packed.empty();
  Kernel k{reinterpret_cast<const int*>(t.entry.data()), t.value.data(),
           packed ? reinterpret_cast<const int*>(t.packed.data()) : nullptr, _mm_cvtsi32_si128(static_cast<int>(t.bits)),
           _mm256_set1_epi32(static_cast<int>(t.mask)), _mm256_set1_epi32(0xffff),
           _mm256_set1_epi32(static_cast<int>(kL)), _mm256_set1_epi32(t.marker), _mm256_set1_epi32(t.lo),
           _mm256_set1_epi32(0xfff), _mm256_set1_epi32(0x1fff)};
  if (ways == 32) return packed ? rounds<4, true>(k, states, pos, end, out, n, markers)
                                : rounds<4, false>(k, states, pos, end, out, n, markers);
  if (ways == 8) return packed ? rounds<1, true>(k, states, pos, end, out, n, markers)
                               : rounds<1, false>(k, states, pos, end, out, n, markers);
  return 0;
}

}  // namespace featjnd::codec::interleaved
