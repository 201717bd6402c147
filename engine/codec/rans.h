// A range asymmetric numeral system (rANS) coder with static, integer-only probability models,
// written from Duda's construction and the byte-renormalising variant of Giesen's public-domain
// description ("Interleaved entropy coders", 2014): a 32-bit state kept in [L, 256·L) with
// L = 2^23, frequencies summing to 2^15. Everything is integer arithmetic, so a bitstream decodes
// identically on every machine.
//
// Symbols go in in the order they will be read; the encoder codes them in reverse (rANS is a
// stack) when finished. A model covers an alphabet [lo, lo + n) plus an escape: a value outside
// it is coded as the escape followed by its zig-zag folded value in bypass bits (a 6-bit length,
// then the bits), so any 32-bit value is representable.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace featjnd::codec {

constexpr uint32_t kProbBits = 15;
constexpr uint32_t kProbScale = 1u << kProbBits;
constexpr uint32_t kRansL = 1u << 23;

// A malformed or truncated bitstream; the message says what and where.
class CodecError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A static model: frequencies summing to 2^bits over an alphabet plus the escape. The byte-wise
// coder below takes 15-bit models (bitstream version 1); the interleaved coder (interleaved.h)
// 12- or 15-bit ones.
class Model {
 public:
  // Frequencies proportional to `counts` (values lo, lo+1, ...) and `escapes`, normalised to
  // 2^bits with integer arithmetic only; every symbol and the escape get at least 1.
  static Model from_counts(int32_t lo, const std::vector<uint64_t>& counts, uint64_t escapes,
                           uint32_t bits = kProbBits);
  // A model from frequencies read off a bitstream (validated: each ≥ 1, sum 2^bits).
  static Model from_frequencies(int32_t lo, std::vector<uint32_t> freq, uint32_t bits = kProbBits);

  uint32_t bits() const { return bits_; }
  int32_t lo() const { return lo_; }
  uint32_t size() const { return static_cast<uint32_t>(freq_.size()) - 1; }  // without the escape
  const std::vector<uint32_t>& frequencies() const { return freq_; }
  uint32_t freq(uint32_t index) const { return freq_[index]; }
  uint32_t start(uint32_t index) const { return start_[index]; }
  uint32_t index_of_slot(uint32_t slot) const { return slot_[slot]; }
  const uint16_t* slots() const { return slot_.data(); }
  // Ideal code length in bits of one value (escape bits of the byte-wise coder included).
  double cost_bits(int64_t value) const;

 private:
  void finish();
  uint32_t bits_ = kProbBits;
  int32_t lo_ = 0;
  std::vector<uint32_t> freq_, start_;  // n + 1 entries, the escape last
  std::vector<uint16_t> slot_;          // 2^bits entries: slot -> index (the alphabet is < 2^16)
};

class Encoder {
 public:
  void reserve(size_t n) { ops_.reserve(ops_.size() + n); }
  void symbol(const Model& m, int64_t value);
  void symbols(const Model& m, const int32_t* values, size_t n);
  void bits(uint64_t value, int nbits);  // bypass, 0 ≤ nbits ≤ 64
  size_t pending() const { return ops_.size(); }
  // The coded bytes: the final state (4 bytes, little-endian) first, then the renormalisation
  // bytes in reading order.
  std::vector<uint8_t> finish();

 private:
  struct Op {
    uint32_t start, freq;
  };
  std::vector<Op> ops_;
};

class Decoder {
 public:
  Decoder(const uint8_t* data, size_t size, std::string what);
  int64_t symbol(const Model& m);
  // n values into out (int32: an escaped value beyond it is an error), the common case in one loop.
  void symbols(const Model& m, int32_t* out, size_t n);
  uint64_t bits(int nbits);
  // The stream must end exactly here, in the encoder's initial state.
  void finish() const;

 private:
  uint32_t take(uint32_t freq_bits_start, uint32_t freq);
  void fail(const std::string& why) const;
  const uint8_t* data_;
  size_t size_, pos_ = 0;
  uint32_t x_ = 0;
  std::string what_;
};

// Little helpers of the container format.
void put_varint(std::vector<uint8_t>& out, uint64_t v);
uint64_t get_varint(const uint8_t* data, size_t size, size_t& pos, const std::string& what);
uint64_t zigzag(int64_t v);
int64_t unzigzag(uint64_t v);

}  // namespace featjnd::codec
