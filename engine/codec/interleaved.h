// The interleaved rANS coder of bitstream version 2, for long symbol sequences at memory speed.
//
// `ways` states (1, 8 or 32) take turns: symbol i is coded by state i mod ways. Each state is kept
// in [2^15, 2^31) and renormalised 16 bits at a time, so that decoding a symbol reads at most one
// 16-bit word (with at most 15 probability bits), and so that the encoder's division by a symbol's
// frequency is exactly a multiplication by a 32-bit reciprocal (Giesen's "Interleaved entropy coders", 2014, and the 4x16 and 32x16 rANS of
// htscodecs work the same way). That bound is what lets a decoder step eight states at once in
// AVX2 registers — two table gathers, a multiply, and the renormalisation words of the lanes that
// need one expanded by a shuffle — chosen at run time where the CPU has AVX2
// (interleaved_avx2.cpp); the scalar decoder gives the same output everywhere else.
//
// The coded bytes: the final state of each way (4 bytes, little-endian), then the 16-bit words
// (little-endian) in the order the decoder reads them: symbol by symbol, at most one word each.
//
// Escapes. A value outside the model's alphabet is coded as the escape symbol and its value is
// appended to a separate list the caller stores (the bitstream: varints), so the decoding loop
// never leaves its lanes; the decoder writes a marker (the value lo + n, which no in-alphabet
// symbol has) and replaces the markers with the list afterwards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "codec/rans.h"

namespace featjnd::codec::interleaved {

constexpr uint32_t kL = 1u << 15;  // the state's lower bound; words are 16 bits
constexpr int kMaxWays = 32;

// The ways a sequence of n symbols is coded with: 32 when the 128 bytes of final states are a
// negligible part of it, fewer for short sequences.
int ways_for(size_t n);

// The tables both sides derive from a model (12 or 15 probability bits).
struct Tables {
  explicit Tables(const Model& m);
  uint32_t bits, mask;
  int32_t lo, marker;                  // marker = lo + n: the escape's value in the decoder's output
  std::vector<uint32_t> entry;         // per slot: freq << 16 | (slot − start)
  std::vector<int32_t> value;          // per slot: lo + index (the marker for the escape)
  // 12-bit tables of at most 128 entries (the escape included) — most quantized feature levels —
  // also as one word per slot, index << 25 | freq << 12 | (slot − start), so that the AVX2
  // decoder needs one gather per eight symbols instead of two. Empty otherwise.
  std::vector<uint32_t> packed;
  struct EncodeSymbol {                // per index: the encoder's division by a reciprocal
    uint32_t x_max, rcp_freq, bias;
    uint16_t cmpl_freq, rcp_shift;
  };
  std::vector<EncodeSymbol> encode;    // n + 1, the escape last
  // The same as two words per index for the AVX2 encoder (two gathers instead of four): the
  // frequency and start (freq | start << 16; x_max, cmpl_freq, bias and rcp_shift follow from
  // them) and the reciprocal.
  std::vector<uint32_t> freq_start, rcp;
  uint32_t size;                       // n: the alphabet without the escape
};

// Codes n values; out-of-alphabet values are appended to *escaped. Appends the coded bytes to out.
// `simd`: let the AVX2 kernel code whole groups of eight where the CPU has it (the bytes are the
// same either way; false: the scalar encoder, for tests and benchmarks).
void encode(const Tables& t, const int32_t* values, size_t n, int ways, std::vector<uint8_t>& out,
            std::vector<int32_t>* escaped, bool simd = true);

// Decodes n values from exactly `size` bytes; `escaped` supplies the escaped values in order.
// Throws CodecError (prefixed with `what`) for anything but such a stream. `simd`: let the AVX2
// kernel run where the CPU has it (false: the scalar decoder, for tests and benchmarks).
void decode(const Tables& t, const uint8_t* data, size_t size, int ways, int32_t* out, size_t n,
            const std::vector<int32_t>& escaped, const std::string& what, bool simd = true);

// Whether decode() with simd = true uses the AVX2 kernel on this machine (FEATJND_CODEC_SIMD=0
// turns it off).
bool simd_available();

// The encoder's kernel (interleaved_avx2.cpp): symbols [0, n − n mod 8) — after the scalar
// encoder coded those above, from the last — in groups of eight from the top, `ways` 8 or 32; the
// words go below `w`, which needs 8 words of room below the lowest word written. Returns the
// number of escapes among them.
size_t encode_avx2(const Tables& t, uint32_t* states, int ways, const int32_t* values, size_t n, uint16_t*& w);

// The decoder's kernel (interleaved_avx2.cpp): full steps of 8 lanes for `ways` 8 or 32 while at
// least 16 bytes per step remain; returns the symbols decoded (a multiple of ways) and adds the
// escape markers among them to `markers`.
size_t decode_avx2(const Tables& t, uint32_t* states, int ways, const uint8_t*& pos, const uint8_t* end,
                   int32_t* out, size_t n, size_t& markers);

}  // namespace featjnd::codec::interleaved
