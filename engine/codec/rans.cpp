#include "codec/rans.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace featjnd::codec {

void Model::finish() {
  start_.assign(freq_.size(), 0);
  for (size_t i = 1; i < freq_.size(); ++i) start_[i] = start_[i - 1] + freq_[i - 1];
  slot_.assign(size_t(1) << bits_, 0);
  for (size_t i = 0; i < freq_.size(); ++i)
    std::fill(slot_.begin() + start_[i], slot_.begin() + start_[i] + freq_[i], static_cast<uint16_t>(i));
}

Model Model::from_counts(int32_t lo, const std::vector<uint64_t>& counts, uint64_t escapes, uint32_t bits) {
  if (bits < 1 || bits > kProbBits) throw std::invalid_argument("rANS model: 1 to 15 probability bits");
  const uint64_t items = counts.size() + 1, scale = uint64_t(1) << bits;
  if (items > scale) throw std::invalid_argument("rANS model: more symbols than probability slots");
  std::vector<uint64_t> c(counts);
  c.push_back(escapes);
  const uint64_t total = std::accumulate(c.begin(), c.end(), uint64_t(0));
  const uint64_t spare = scale - items;  // what is shared out beyond the 1 each gets
  Model m;
  m.bits_ = bits;
  m.lo_ = lo;
  m.freq_.assign(items, 1);
  std::vector<std::pair<uint64_t, size_t>> remainders;  // (remainder, index): largest first
  uint64_t given = 0;
  for (size_t i = 0; i < items; ++i) {
    const unsigned __int128 share = total ? static_cast<unsigned __int128>(c[i]) * spare : 0;
    const uint64_t whole = total ? static_cast<uint64_t>(share / total) : 0;
    m.freq_[i] += static_cast<uint32_t>(whole);
    given += whole;
    remainders.push_back({total ? static_cast<uint64_t>(share % total) : 0, i});
  }
  // The slots rounding left over go to the largest remainders (ties: the lower index).
  std::sort(remainders.begin(), remainders.end(),
            [](auto& a, auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
  for (uint64_t k = 0; k < spare - given; ++k) m.freq_[remainders[k % items].second] += 1;
  m.finish();
  return m;
}

Model Model::from_frequencies(int32_t lo, std::vector<uint32_t> freq, uint32_t bits) {
  if (bits < 1 || bits > kProbBits) throw CodecError("a probability table has " + std::to_string(bits) + " bits; 1 to 15");
  const uint64_t scale = uint64_t(1) << bits;
  if (freq.empty() || freq.size() > scale) throw CodecError("a probability table has an impossible size");
  uint64_t sum = 0;
  for (auto f : freq) {
    if (f == 0) throw CodecError("a probability table has a zero frequency");
    sum += f;
  }
  if (sum != scale) throw CodecError("a probability table does not sum to 2^" + std::to_string(bits));
  Model m;
  m.bits_ = bits;
  m.lo_ = lo;
  m.freq_ = std::move(freq);
  m.finish();
  return m;
}

namespace {

int bit_length(uint64_t m) { return m ? 64 - __builtin_clzll(m) : 0; }

}  // namespace

double Model::cost_bits(int64_t v) const {
  const int64_t i = v - lo_;
  if (i >= 0 && i < static_cast<int64_t>(size())) return bits_ - std::log2(double(freq_[static_cast<size_t>(i)]));
  return bits_ - std::log2(double(freq_.back())) + 6 + (bit_length(zigzag(v) + 1) - 1);
}

void Encoder::symbol(const Model& m, int64_t value) {
  if (m.bits() != kProbBits) throw std::invalid_argument("the byte-wise rANS coder takes 15-bit models");
  const int64_t i = value - m.lo();
  if (i >= 0 && i < static_cast<int64_t>(m.size())) {
    ops_.push_back({m.start(static_cast<uint32_t>(i)), m.freq(static_cast<uint32_t>(i))});
    return;
  }
  ops_.push_back({m.start(m.size()), m.freq(m.size())});
  // Escape: the folded value + 1 as its bit length (6 bits), then its bits below the leading 1.
  const uint64_t folded = zigzag(value) + 1;
  const int n = bit_length(folded) - 1;
  bits(static_cast<uint64_t>(n), 6);
  bits(folded & ((n == 64 ? 0 : (uint64_t(1) << n)) - 1), n);
}

void Encoder::symbols(const Model& m, const int32_t* v, size_t n) {
  if (m.bits() != kProbBits) throw std::invalid_argument("the byte-wise rANS coder takes 15-bit models");
  reserve(n);
  const int64_t lo = m.lo(), size = m.size();
  for (size_t k = 0; k < n; ++k) {
    const int64_t i = int64_t(v[k]) - lo;
    if (i >= 0 && i < size) ops_.push_back({m.start(static_cast<uint32_t>(i)), m.freq(static_cast<uint32_t>(i))});
    else symbol(m, v[k]);
  }
}

void Encoder::bits(uint64_t value, int nbits) {
  for (int done = 0; done < nbits;) {  // the most significant chunk first
    const int k = std::min<int>(kProbBits, nbits - done);
    const uint32_t chunk = static_cast<uint32_t>((value >> (nbits - done - k)) & ((uint64_t(1) << k) - 1));
    ops_.push_back({chunk << (kProbBits - k), 1u << (kProbBits - k)});
    done += k;
  }
}

std::vector<uint8_t> Encoder::finish() {
  std::vector<uint8_t> emitted;
  emitted.reserve(ops_.size() / 2 + 16);
  uint32_t x = kRansL;
  for (auto it = ops_.rbegin(); it != ops_.rend(); ++it) {
    const uint32_t x_max = ((kRansL >> kProbBits) << 8) * it->freq;
    while (x >= x_max) {
      emitted.push_back(static_cast<uint8_t>(x & 0xff));
      x >>= 8;
    }
    x = ((x / it->freq) << kProbBits) + (x % it->freq) + it->start;
  }
  ops_.clear();
  std::vector<uint8_t> out(emitted.size() + 4);
  for (int i = 0; i < 4; ++i) out[static_cast<size_t>(i)] = static_cast<uint8_t>(x >> (8 * i));
  std::copy(emitted.rbegin(), emitted.rend(), out.begin() + 4);
  return out;
}

Decoder::Decoder(const uint8_t* data, size_t size, std::string what) : data_(data), size_(size), what_(std::move(what)) {
  if (size < 4) fail("shorter than the 4-byte coder state");
  x_ = uint32_t(data[0]) | uint32_t(data[1]) << 8 | uint32_t(data[2]) << 16 | uint32_t(data[3]) << 24;
  pos_ = 4;
  if (x_ < kRansL) fail("the coder state is out of range");
}

void Decoder::fail(const std::string& why) const { throw CodecError(what_ + ": " + why); }

uint32_t Decoder::take(uint32_t start, uint32_t freq) {
  const uint32_t slot = x_ & (kProbScale - 1);
  x_ = freq * (x_ >> kProbBits) + slot - start;
  while (x_ < kRansL) {
    if (pos_ >= size_) fail("truncated (the coded symbols run past the end)");
    x_ = (x_ << 8) | data_[pos_++];
  }
  return slot;
}

int64_t Decoder::symbol(const Model& m) {
  const uint32_t index = m.index_of_slot(x_ & (kProbScale - 1));
  take(m.start(index), m.freq(index));
  if (index < m.size()) return int64_t(m.lo()) + index;
  const int n = static_cast<int>(bits(6));
  if (n > 33) fail("an escaped value is longer than 33 bits");
  const uint64_t folded = (uint64_t(1) << n) | bits(n);
  return unzigzag(folded - 1);
}

void Decoder::symbols(const Model& m, int32_t* out, size_t n) {
  const uint16_t* slots = m.slots();
  const uint32_t escape = m.size();
  const int64_t lo = m.lo();
  uint32_t x = x_;
  for (size_t k = 0; k < n; ++k) {
    const uint32_t slot = x & (kProbScale - 1), index = slots[slot];
    if (index == escape) {  // the rare path, with its bounds checks
      x_ = x;
      const int64_t v = symbol(m);
      if (v < INT32_MIN || v > INT32_MAX) fail("an escaped value exceeds 32 bits");
      out[k] = static_cast<int32_t>(v);
      x = x_;
      continue;
    }
    x = m.freq(index) * (x >> kProbBits) + slot - m.start(index);
    while (x < kRansL) {
      if (pos_ >= size_) {
        x_ = x;
        fail("truncated (the coded symbols run past the end)");
      }
      x = (x << 8) | data_[pos_++];
    }
    out[k] = static_cast<int32_t>(lo + index);
  }
  x_ = x;
}

uint64_t Decoder::bits(int nbits) {
  uint64_t v = 0;
  for (int done = 0; done < nbits;) {
    const int k = std::min<int>(kProbBits, nbits - done);
    const uint32_t chunk = (x_ & (kProbScale - 1)) >> (kProbBits - k);
    take(chunk << (kProbBits - k), 1u << (kProbBits - k));
    v = (v << k) | chunk;
    done += k;
  }
  return v;
}

void Decoder::finish() const {
  if (pos_ != size_) fail(std::to_string(size_ - pos_) + " bytes left after the last symbol");
  if (x_ != kRansL) fail("the coder did not return to its initial state (corrupted data)");
}

void put_varint(std::vector<uint8_t>& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}

uint64_t get_varint(const uint8_t* data, size_t size, size_t& pos, const std::string& what) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos >= size) throw CodecError(what + ": truncated inside a number");
    const uint8_t b = data[pos++];
    v |= uint64_t(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  throw CodecError(what + ": a number longer than 64 bits");
}

uint64_t zigzag(int64_t v) { return v >= 0 ? uint64_t(v) << 1 : ((uint64_t(-(v + 1))) << 1) | 1; }
int64_t unzigzag(uint64_t v) { return (v & 1) ? -int64_t(v >> 1) - 1 : int64_t(v >> 1); }

}  // namespace featjnd::codec
