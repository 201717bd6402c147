// The AVX2 kernel of the interleaved rANS decoder (interleaved.h): eight states per register.
// One step of a register decodes eight symbols: the slots (x & mask), two gathers (freq << 16 |
// offset, and the value; one where the table is packed, Tables::packed), x = freq · (x >> bits) + offset, then the lanes whose state fell below
// 2^15 take the next 16-bit words of the stream in lane order — the words are loaded eight at a
// time and moved to their lanes by a permutation looked up from the mask of those lanes. Compiled
// for AVX2 by function attributes and called only where the CPU has it (simd_available()).
#include <immintrin.h>

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

}  // namespace

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
