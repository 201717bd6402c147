#include "codec/bitstream.h"

#include "codec/interleaved.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include <zlib.h>

namespace featjnd::codec {
namespace {

constexpr uint32_t kMaxAlphabet = 4096;  // values beyond a level's window are escaped
constexpr uint8_t kMaxLevels = 16;
constexpr uint8_t kMaxStride = 64;
const char kMagic[4] = {'F', 'J', 'N', 'C'};

void put_f32(std::vector<uint8_t>& out, float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(u >> (8 * i)));
}

// Start, size, then the frequencies − 1: a value v ≥ 1 as 2v, a run of r 0s as 2(r − 1) + 1.
void put_table(std::vector<uint8_t>& out, const Model& m) {
  put_varint(out, zigzag(m.lo()));
  put_varint(out, m.size());
  const auto& f = m.frequencies();
  for (size_t i = 0; i < f.size();) {
    if (f[i] > 1) {
      put_varint(out, uint64_t(f[i] - 1) * 2);
      ++i;
      continue;
    }
    size_t j = i;
    while (j < f.size() && f[j] == 1) ++j;
    put_varint(out, uint64_t(j - i - 1) * 2 + 1);
    i = j;
  }
}

struct Reader {
  const uint8_t* data;
  size_t size, pos = 0;
  std::string what;
  uint64_t varint() { return get_varint(data, size, pos, what); }
  uint8_t byte() {
    if (pos >= size) throw CodecError(what + ": truncated");
    return data[pos++];
  }
  float f32() {
    uint32_t u = 0;
    for (int i = 0; i < 4; ++i) u |= uint32_t(byte()) << (8 * i);
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
};

Model get_table(Reader& r, uint32_t bits = kProbBits) {
  const int64_t lo = unzigzag(r.varint());
  const uint64_t n = r.varint();
  if (lo < std::numeric_limits<int32_t>::min() || lo > std::numeric_limits<int32_t>::max() || n > kMaxAlphabet)
    throw CodecError(r.what + ": a probability table's alphabet is out of range");
  std::vector<uint32_t> f;
  while (f.size() < n + 1) {
    const uint64_t t = r.varint();
    if (t & 1) {
      if (f.size() + (t >> 1) + 1 > n + 1) throw CodecError(r.what + ": a probability table runs past its size");
      f.insert(f.end(), (t >> 1) + 1, 1);
    } else {
      if (t / 2 >= (uint64_t(1) << bits)) throw CodecError(r.what + ": a frequency exceeds 2^" + std::to_string(bits));
      f.push_back(static_cast<uint32_t>(t / 2 + 1));
    }
  }
  try {
    return Model::from_frequencies(static_cast<int32_t>(lo), std::move(f), bits);
  } catch (const CodecError& e) {
    throw CodecError(r.what + ": " + e.what());
  }
}

// A section of either version: varint length, varint head length, the head, the coded bytes.
void put_body(std::vector<uint8_t>& out, const std::vector<uint8_t>& head, const std::vector<uint8_t>& coded) {
  std::vector<uint8_t> body;
  put_varint(body, head.size());
  body.insert(body.end(), head.begin(), head.end());
  body.insert(body.end(), coded.begin(), coded.end());
  put_varint(out, body.size());
  out.insert(out.end(), body.begin(), body.end());
}

// Version 1's section: the head (tables, numbers), then the one rANS stream.
void put_section(std::vector<uint8_t>& out, const std::vector<uint8_t>& head, Encoder& rans) {
  put_body(out, head, rans.finish());
}

// The section of either version that starts at r.pos: its head, and its coded bytes [coded, end).
struct Section {
  Reader head;
  const uint8_t* coded;
  const uint8_t* end;
};

Section get_body(Reader& r, const std::string& what) {
  const uint64_t len = r.varint();
  if (len > r.size - r.pos) throw CodecError(what + ": its length runs past the end of the bitstream");
  Reader body{r.data + r.pos, static_cast<size_t>(len), 0, what};
  r.pos += static_cast<size_t>(len);
  const uint64_t head = body.varint();
  if (head > body.size - body.pos) throw CodecError(what + ": its head runs past the section");
  return {Reader{body.data + body.pos, static_cast<size_t>(head), 0, what}, body.data + body.pos + head,
          body.data + body.size};
}

// Version 1's section: its head as a Reader, its rANS bytes as a Decoder.
std::pair<Reader, Decoder> get_section(Reader& r, const std::string& what) {
  const Section s = get_body(r, what);
  return {s.head, Decoder(s.coded, static_cast<size_t>(s.end - s.coded), what)};
}

void check_stream(const Stream& s) {
  if (s.shapes.size() > kMaxLevels || s.symbols.size() != s.shapes.size())
    throw std::invalid_argument("codec: one symbol array per level, at most 16 levels");
  const bool steps = s.method == Method::guided || s.method == Method::random;
  if (steps && (s.step_block == 0 || s.step_stride == 0 || s.step_stride > kMaxStride))
    throw std::invalid_argument("codec: a step map's block and stride are 1 to 255 and 1 to 64");
  for (size_t l = 0; l < s.shapes.size(); ++l) {
    if (s.symbols[l].size() != s.shapes[l].elements())
      throw std::invalid_argument("codec: level " + std::to_string(l) + " has the wrong number of symbols");
    if (!steps) continue;
    if (s.log_steps.size() != s.shapes.size() || s.log_steps[l].size() != s.shapes[l].blocks(s.step_block))
      throw std::invalid_argument("codec: level " + std::to_string(l) + " needs one log-step per block of tokens");
    for (int32_t q : s.log_steps[l])
      if (q % s.step_stride != 0)
        throw std::invalid_argument("codec: level " + std::to_string(l) + " has a log-step off its stride");
  }
}

// n values, decoded in chunks: the vector grows with what decodes (a header's count is bounded
// by max_elements, not trusted beyond it).
std::vector<int32_t> decode_values(Decoder& d, const Model& m, uint64_t n) {
  std::vector<int32_t> v;
  for (uint64_t done = 0; done < n;) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(n - done, uint64_t(1) << 22));
    v.resize(v.size() + chunk);
    d.symbols(m, v.data() + done, chunk);
    done += chunk;
  }
  return v;
}

uint32_t shape_dim(Reader& r) {
  const uint64_t v = r.varint();
  if (v > (uint64_t(1) << 24)) throw CodecError(r.what + ": a level dimension exceeds 2^24");
  return static_cast<uint32_t>(v);
}

}  // namespace

namespace {

// The ideal size in bits of the counted values under m (the escapes' own values aside).
double cost_of(const Model& m, const std::vector<uint64_t>& counts, uint64_t escapes) {
  double bits = double(escapes) * (m.bits() - std::log2(double(m.freq(m.size()))));
  for (size_t i = 0; i < counts.size(); ++i)
    if (counts[i]) bits += double(counts[i]) * (m.bits() - std::log2(double(m.freq(static_cast<uint32_t>(i)))));
  return bits;
}

// Version 2's precision: 12 bits (a 16 KB decoding table, in the L1 cache) unless 15 bits code
// the values more than 0.5 % smaller (wide alphabets, very skewed ones): a 12-bit table of at most
// 128 entries decodes about 1.4 times as fast (one gather: Tables::packed).
Model chosen_precision(int32_t lo, const std::vector<uint64_t>& counts, uint64_t escapes) {
  Model m15 = Model::from_counts(lo, counts, escapes, 15);
  if (counts.size() + 1 > 2048) return m15;
  Model m12 = Model::from_counts(lo, counts, escapes, 12);
  return cost_of(m12, counts, escapes) <= 1.005 * cost_of(m15, counts, escapes) ? m12 : m15;
}

}  // namespace

// The model of one sequence: its values' window (at most kMaxAlphabet wide, centred on the mean
// when the values spread wider) with their counts; values outside are escaped.
Model table_for(const std::vector<int32_t>& v, uint32_t bits) {
  if (v.empty()) return Model::from_counts(0, {}, 0, bits ? bits : 12);
  int32_t mn = v[0], mx = v[0];
  for (int32_t x : v) mn = std::min(mn, x), mx = std::max(mx, x);  // vectorised, unlike std::minmax_element
  int64_t lo = mn, hi = std::min<int64_t>(mx, std::numeric_limits<int32_t>::max() - 1);  // lo + n fits int32
  if (hi - lo + 1 > kMaxAlphabet) {
    double mean = 0;
    for (int32_t x : v) mean += double(x) / double(v.size());
    lo = std::max<int64_t>(lo, std::llround(mean) - kMaxAlphabet / 2);
    hi = lo + kMaxAlphabet - 1;
  }
  // Four histograms, one per position mod 4, summed at the end: a run of equal values (most
  // quantized features are 0) would otherwise wait on each increment of one counter.
  const size_t width = static_cast<size_t>(hi - lo + 1);
  std::vector<uint64_t> partial(4 * width, 0), counts(width, 0);
  uint64_t escapes = 0;
  const size_t n = v.size(), whole = n - n % 4;
  auto add = [&](size_t lane, int32_t x) {
    const uint64_t i = static_cast<uint64_t>(int64_t(x) - lo);  // below lo: wraps past width
    if (i < width) ++partial[lane * width + i];
    else ++escapes;
  };
  if (lo == mn && hi == mx) {  // every value inside the window: no escape to test for
    for (size_t k = 0; k < whole; k += 4)
      for (size_t lane = 0; lane < 4; ++lane) ++partial[lane * width + static_cast<size_t>(int64_t(v[k + lane]) - lo)];
  } else {
    for (size_t k = 0; k < whole; k += 4)
      for (size_t lane = 0; lane < 4; ++lane) add(lane, v[k + lane]);
  }
  for (size_t k = whole; k < n; ++k) add(0, v[k]);
  for (size_t lane = 0; lane < 4; ++lane)
    for (size_t i = 0; i < width; ++i) counts[i] += partial[lane * width + i];
  if (bits == 0) return chosen_precision(static_cast<int32_t>(lo), counts, escapes);
  return Model::from_counts(static_cast<int32_t>(lo), counts, escapes, bits);
}

float token_step(float base, int32_t q) {
  static const float kFraction[8] = {1.0f, 1.0905077326652577f, 1.189207115002721f, 1.2968395546510096f,
                                     1.4142135623730951f, 1.5422108254079407f, 1.681792830507429f, 1.8340080864093424f};
  const int32_t a = q >= 0 ? q / 8 : -((-q + 7) / 8);  // floor(q / 8)
  return std::ldexp(base * kFraction[q - 8 * a], a);
}

int32_t log_step_index(float step, float base, int32_t stride) {
  const double bound = std::floor(100000.0 / stride);  // in units of the stride
  if (!(step > 0) || !(base > 0)) return static_cast<int32_t>(-bound) * stride;
  const double q = std::round(8.0 * std::log2(double(step) / double(base)) / stride);
  return static_cast<int32_t>(std::clamp(q, -bound, bound)) * stride;
}

namespace {
// Wrapping arithmetic: residuals of arbitrary int32 values stay exact (no signed overflow).
int32_t wrap_add(int32_t a, int32_t b) { return static_cast<int32_t>(uint32_t(a) + uint32_t(b)); }
int32_t wrap_sub(int32_t a, int32_t b) { return static_cast<int32_t>(uint32_t(a) - uint32_t(b)); }

// JPEG-LS's median edge detector from the left (a), upper (b) and upper-left (c) neighbours; the
// first row predicts from the left, the first column from above, the first value is predicted 0.
int32_t med_prediction(const int32_t* g, uint64_t y, uint64_t x, uint64_t w) {
  if (y == 0) return x == 0 ? 0 : g[x - 1];
  if (x == 0) return g[(y - 1) * w];
  const int32_t a = g[y * w + x - 1], b = g[(y - 1) * w + x], c = g[(y - 1) * w + x - 1];
  if (c >= std::max(a, b)) return std::min(a, b);
  if (c <= std::min(a, b)) return std::max(a, b);
  return wrap_sub(wrap_add(a, b), c);
}
}  // namespace

std::vector<int32_t> median_residuals(const std::vector<int32_t>& v, uint64_t n, uint64_t h, uint64_t w) {
  std::vector<int32_t> r(v.size());
  for (uint64_t k = 0; k < n; ++k) {
    const int32_t* g = v.data() + k * h * w;
    for (uint64_t y = 0; y < h; ++y)
      for (uint64_t x = 0; x < w; ++x) r[k * h * w + y * w + x] = wrap_sub(g[y * w + x], med_prediction(g, y, x, w));
  }
  return r;
}

// In place, in raster order: each value's neighbours are restored before it is.
void undo_median_residuals(std::vector<int32_t>& r, uint64_t n, uint64_t h, uint64_t w) {
  for (uint64_t k = 0; k < n; ++k) {
    int32_t* g = r.data() + k * h * w;
    for (uint64_t y = 0; y < h; ++y)
      for (uint64_t x = 0; x < w; ++x) g[y * w + x] = wrap_add(g[y * w + x], med_prediction(g, y, x, w));
  }
}

namespace {

// The method's numbers, the head of the side section in both versions.
std::vector<uint8_t> method_numbers(const Stream& s) {
  std::vector<uint8_t> head;
  if (s.method == Method::minmax) {
    put_f32(head, s.low), put_f32(head, s.high), head.push_back(s.bits);
  } else {
    put_f32(head, s.step);
  }
  return head;
}

void read_method_numbers(Reader& head, Stream& s) {
  if (s.method == Method::minmax) s.low = head.f32(), s.high = head.f32(), s.bits = head.byte();
  else s.step = head.f32();
}

bool has_steps(const Stream& s) { return s.method == Method::guided || s.method == Method::random; }

// ---- version 1: one byte-wise rANS stream per section -----------------------------------------

void encode_sections_v1(const Stream& s, std::vector<uint8_t>& out, size_t& side_end) {
  std::vector<uint8_t> head = method_numbers(s);
  Encoder side;
  if (has_steps(s))
    for (auto& q : s.log_steps) {
      auto m = table_for(q);
      put_table(head, m);
      side.symbols(m, q.data(), q.size());
    }
  put_section(out, head, side);
  side_end = out.size();
  head.clear();
  Encoder payload;
  for (auto& v : s.symbols) {
    auto m = table_for(v);
    put_table(head, m);
    payload.symbols(m, v.data(), v.size());
  }
  put_section(out, head, payload);
}

void decode_sections_v1(Reader& r, Stream& s) {
  {
    auto [head, side] = get_section(r, "feature bitstream, side information");
    read_method_numbers(head, s);
    if (has_steps(s))
      for (auto& sh : s.shapes) {
        auto m = get_table(head);
        s.log_steps.push_back(decode_values(side, m, sh.tokens()));
      }
    side.finish();
  }
  auto [head, payload] = get_section(r, "feature bitstream, payload");
  for (auto& sh : s.shapes) {
    auto m = get_table(head);
    s.symbols.push_back(decode_values(payload, m, sh.elements()));
  }
  payload.finish();
}

// ---- version 2: one interleaved rANS stream per level ------------------------------------------

// A section: varint length, varint head length, the head (the method's numbers, then per level:
// table with its precision, ways, escaped values, stream length), the levels' streams.
// One level's head entries (table with its precision, ways, escaped values, stream length),
// appended to `head`, and its stream, appended to `streams`.
void encode_level(const std::vector<int32_t>& v, std::vector<uint8_t>& head, std::vector<uint8_t>& streams, bool simd) {
  const Model m = table_for(v, 0);
  const int ways = interleaved::ways_for(v.size());
  std::vector<int32_t> escaped;
  const size_t at = streams.size();
  interleaved::encode(interleaved::Tables(m), v.data(), v.size(), ways, streams, &escaped, simd);
  head.push_back(static_cast<uint8_t>(m.bits()));
  put_table(head, m);
  head.push_back(static_cast<uint8_t>(ways));
  put_varint(head, escaped.size());
  for (int32_t e : escaped) put_varint(head, zigzag(e));
  put_varint(head, streams.size() - at);
}

void put_section_v2(std::vector<uint8_t>& out, std::vector<uint8_t> head, const std::vector<std::vector<int32_t>>& levels,
                    bool simd) {
  std::vector<uint8_t> streams;
  for (const auto& v : levels) encode_level(v, head, streams, simd);
  put_body(out, head, streams);
}

// ---- version 3: the side section with block, stride and prediction ----------------------------

enum class Prediction : uint8_t { none = 0, median = 1 };

// The side section: the method's numbers, then (guided, random) block and stride, and per level
// the prediction byte and the level's entries; the prediction is whichever codes smaller.
void put_side_v3(std::vector<uint8_t>& out, const Stream& s, bool simd) {
  std::vector<uint8_t> head = method_numbers(s), streams;
  if (has_steps(s)) {
    head.push_back(s.step_block), head.push_back(s.step_stride);
    for (size_t l = 0; l < s.shapes.size(); ++l) {
      std::vector<int32_t> v(s.log_steps[l].size());
      for (size_t i = 0; i < v.size(); ++i) v[i] = s.log_steps[l][i] / s.step_stride;
      const auto& sh = s.shapes[l];
      std::vector<uint8_t> head0, stream0, head1, stream1;
      encode_level(v, head0, stream0, simd);
      encode_level(median_residuals(v, sh.n, sh.block_rows(s.step_block), sh.block_cols(s.step_block)), head1, stream1,
                   simd);
      const bool median = head1.size() + stream1.size() < head0.size() + stream0.size();
      head.push_back(static_cast<uint8_t>(median ? Prediction::median : Prediction::none));
      head.insert(head.end(), (median ? head1 : head0).begin(), (median ? head1 : head0).end());
      streams.insert(streams.end(), (median ? stream1 : stream0).begin(), (median ? stream1 : stream0).end());
    }
  }
  put_body(out, head, streams);
}


// One level's n values: its head entries, then its stream.
std::vector<int32_t> decode_level_v2(Section& sec, uint64_t n, bool simd) {
  Reader& h = sec.head;
  const uint8_t bits = h.byte();
  if (bits < 12 || bits > 15) throw CodecError(h.what + ": a table of " + std::to_string(bits) + " bits; 12 to 15");
  const Model m = get_table(h, bits);
  const int ways = h.byte();
  const uint64_t escapes = h.varint();
  if (escapes > n || escapes > h.size - h.pos) throw CodecError(h.what + ": more escaped values than it can hold");
  std::vector<int32_t> escaped;
  escaped.reserve(static_cast<size_t>(escapes));
  for (uint64_t k = 0; k < escapes; ++k) {
    const int64_t v = unzigzag(h.varint());
    if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max())
      throw CodecError(h.what + ": an escaped value exceeds 32 bits");
    escaped.push_back(static_cast<int32_t>(v));
  }
  const uint64_t len = h.varint();
  if (len > static_cast<uint64_t>(sec.end - sec.coded)) throw CodecError(h.what + ": a level's stream runs past the section");
  std::optional<interleaved::Tables> tables;
  try {
    tables.emplace(m);
  } catch (const CodecError& e) {
    throw CodecError(h.what + ": " + e.what());
  }
  std::vector<int32_t> out(static_cast<size_t>(n));
  interleaved::decode(*tables, sec.coded, static_cast<size_t>(len), ways, out.data(), out.size(), escaped, h.what, simd);
  sec.coded += len;
  return out;
}

void finish_section_v2(const Section& sec);

void decode_side_v3(Reader& r, Stream& s, bool simd) {
  auto side = get_body(r, "feature bitstream, side information");
  read_method_numbers(side.head, s);
  if (has_steps(s)) {
    s.step_block = side.head.byte(), s.step_stride = side.head.byte();
    if (s.step_block == 0 || s.step_stride == 0 || s.step_stride > kMaxStride)
      throw CodecError(side.head.what + ": a step map's block and stride are 1 to 255 and 1 to 64");
    for (auto& sh : s.shapes) {
      const uint8_t prediction = side.head.byte();
      if (prediction > 1) throw CodecError(side.head.what + ": unknown prediction " + std::to_string(prediction));
      auto v = decode_level_v2(side, sh.blocks(s.step_block), simd);
      if (prediction == 1) undo_median_residuals(v, sh.n, sh.block_rows(s.step_block), sh.block_cols(s.step_block));
      for (int32_t& q : v) {
        const int64_t scaled = int64_t(q) * s.step_stride;
        if (scaled < std::numeric_limits<int32_t>::min() || scaled > std::numeric_limits<int32_t>::max())
          throw CodecError(side.head.what + ": a log-step exceeds 32 bits");
        q = static_cast<int32_t>(scaled);
      }
      s.log_steps.push_back(std::move(v));
    }
  }
  finish_section_v2(side);
}

void finish_section_v2(const Section& sec) {
  if (sec.head.pos != sec.head.size) throw CodecError(sec.head.what + ": its head has bytes after the last level");
  if (sec.coded != sec.end) throw CodecError(sec.head.what + ": bytes after the last level's stream");
}

void decode_sections_v2(Reader& r, Stream& s, bool simd, uint8_t version) {
  if (version == 3) {
    decode_side_v3(r, s, simd);
  } else {
    auto side = get_body(r, "feature bitstream, side information");
    read_method_numbers(side.head, s);
    if (has_steps(s))
      for (auto& sh : s.shapes) s.log_steps.push_back(decode_level_v2(side, sh.tokens(), simd));
    finish_section_v2(side);
  }
  auto payload = get_body(r, "feature bitstream, payload");
  for (auto& sh : s.shapes) s.symbols.push_back(decode_level_v2(payload, sh.elements(), simd));
  finish_section_v2(payload);
}

}  // namespace

std::vector<uint8_t> encode(const Stream& s, Sizes* sizes, uint8_t version, bool simd) {
  check_stream(s);
  if (version < 1 || version > 3) throw std::invalid_argument("codec: bitstream version 1, 2 or 3");
  if (version < 3 && has_steps(s) && (s.step_block != 1 || s.step_stride != 1))
    throw std::invalid_argument("codec: versions 1 and 2 carry per-token steps at stride 1 only");
  std::vector<uint8_t> out;
  for (char c : kMagic) out.push_back(static_cast<uint8_t>(c));
  for (uint8_t b : {version, static_cast<uint8_t>(s.method), uint8_t(0), static_cast<uint8_t>(s.shapes.size())})
    out.push_back(b);
  for (auto& sh : s.shapes)
    for (uint32_t d : {sh.n, sh.c, sh.h, sh.w}) put_varint(out, d);
  size_t side_end = 0;
  if (version == 1) {
    encode_sections_v1(s, out, side_end);
  } else {
    if (version == 3) put_side_v3(out, s, simd);
    else put_section_v2(out, method_numbers(s), has_steps(s) ? s.log_steps : std::vector<std::vector<int32_t>>{}, simd);
    side_end = out.size();
    put_section_v2(out, {}, s.symbols, simd);
  }
  // A CRC-32 of everything before it: a damaged bitstream is refused, never decoded into noise.
  const uint32_t crc = static_cast<uint32_t>(crc32(0L, out.data(), static_cast<uInt>(out.size())));
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(crc >> (8 * i)));
  if (sizes) *sizes = {out.size(), side_end};
  return out;
}

Stream decode(const uint8_t* data, size_t size, uint64_t max_elements, bool simd) {
  if (size < 12 || std::memcmp(data, kMagic, 4) != 0) throw CodecError("feature bitstream: no FJNC magic");
  const uint8_t version = data[4];
  if (version < 1 || version > 3)
    throw CodecError("feature bitstream: version " + std::to_string(version) + "; this engine reads versions 1 to 3");
  uint32_t stored = 0;
  for (int i = 0; i < 4; ++i) stored |= uint32_t(data[size - 4 + i]) << (8 * i);
  if (static_cast<uint32_t>(crc32(0L, data, static_cast<uInt>(size - 4))) != stored)
    throw CodecError("feature bitstream: the CRC-32 does not match (damaged or truncated)");
  size -= 4;
  Reader r{data, size, 5, "feature bitstream"};
  Stream s;
  const uint8_t method = r.byte(), dtype = r.byte(), levels = r.byte();
  if (method > 3) throw CodecError("feature bitstream: unknown method " + std::to_string(method));
  if (dtype != 0) throw CodecError("feature bitstream: unknown dtype " + std::to_string(dtype));
  if (levels > kMaxLevels) throw CodecError("feature bitstream: " + std::to_string(levels) + " levels; at most 16");
  s.method = static_cast<Method>(method);
  uint64_t total = 0, tokens = 0;
  for (uint8_t l = 0; l < levels; ++l) {
    LevelShape sh{shape_dim(r), shape_dim(r), shape_dim(r), shape_dim(r)};
    const unsigned __int128 e = static_cast<unsigned __int128>(uint64_t(sh.n) * sh.c) * (uint64_t(sh.h) * sh.w);
    if (e > max_elements || total + static_cast<uint64_t>(e) > max_elements)
      throw CodecError("feature bitstream: the levels hold more than " + std::to_string(max_elements) + " elements");
    total += static_cast<uint64_t>(e);
    // A step map has an entry per token (or block): with C = 0 the tokens are not bounded by the
    // elements, so they are bounded themselves before any map is allocated.
    const unsigned __int128 t = static_cast<unsigned __int128>(uint64_t(sh.n) * sh.h) * sh.w;
    if (has_steps(s) && (t > max_elements || tokens + static_cast<uint64_t>(t) > max_elements))
      throw CodecError("feature bitstream: the levels hold more than " + std::to_string(max_elements) + " tokens");
    tokens += static_cast<uint64_t>(t);
    s.shapes.push_back(sh);
  }
  if (version == 1) decode_sections_v1(r, s);
  else decode_sections_v2(r, s, simd, version);
  if (r.pos != size) throw CodecError("feature bitstream: " + std::to_string(size - r.pos) + " bytes after the payload");
  return s;
}

}  // namespace featjnd::codec
