#include "codec/bitstream.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include <zlib.h>

namespace featjnd::codec {
namespace {

constexpr uint32_t kMaxAlphabet = 4096;  // values beyond a level's window are escaped
constexpr uint8_t kMaxLevels = 16;
const char kMagic[4] = {'F', 'J', 'N', 'C'};

void put_f32(std::vector<uint8_t>& out, float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(u >> (8 * i)));
}

// The model of one sequence: its values' window (at most kMaxAlphabet wide, centred on the mean
// when the values spread wider) with their counts; values outside are escaped.
Model model_for(const std::vector<int32_t>& v) {
  if (v.empty()) return Model::from_counts(0, {}, 0);
  auto [mn, mx] = std::minmax_element(v.begin(), v.end());
  int64_t lo = *mn, hi = *mx;
  if (hi - lo + 1 > kMaxAlphabet) {
    double mean = 0;
    for (int32_t x : v) mean += double(x) / double(v.size());
    lo = std::max<int64_t>(lo, std::llround(mean) - kMaxAlphabet / 2);
    hi = lo + kMaxAlphabet - 1;
  }
  std::vector<uint64_t> counts(static_cast<size_t>(hi - lo + 1), 0);
  uint64_t escapes = 0;
  for (int32_t x : v) {
    if (x < lo || x > hi) ++escapes;
    else ++counts[static_cast<size_t>(x - lo)];
  }
  return Model::from_counts(static_cast<int32_t>(lo), counts, escapes);
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

Model get_table(Reader& r) {
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
      if (t / 2 >= kProbScale) throw CodecError(r.what + ": a frequency exceeds 2^15");
      f.push_back(static_cast<uint32_t>(t / 2 + 1));
    }
  }
  try {
    return Model::from_frequencies(static_cast<int32_t>(lo), std::move(f));
  } catch (const CodecError& e) {
    throw CodecError(r.what + ": " + e.what());
  }
}

// One section: varint length, varint head length, the head (tables, numbers), the rANS bytes.
void put_section(std::vector<uint8_t>& out, const std::vector<uint8_t>& head, Encoder& rans) {
  const auto coded = rans.finish();
  std::vector<uint8_t> body;
  put_varint(body, head.size());
  body.insert(body.end(), head.begin(), head.end());
  body.insert(body.end(), coded.begin(), coded.end());
  put_varint(out, body.size());
  out.insert(out.end(), body.begin(), body.end());
}

// The section that starts at r.pos: its head as a Reader, its rANS bytes as a Decoder.
std::pair<Reader, Decoder> get_section(Reader& r, const std::string& what) {
  const uint64_t len = r.varint();
  if (len > r.size - r.pos) throw CodecError(what + ": its length runs past the end of the bitstream");
  Reader body{r.data + r.pos, static_cast<size_t>(len), 0, what};
  r.pos += static_cast<size_t>(len);
  const uint64_t head = body.varint();
  if (head > body.size - body.pos) throw CodecError(what + ": its head runs past the section");
  Reader h{body.data + body.pos, static_cast<size_t>(head), 0, what};
  const size_t coded = body.pos + static_cast<size_t>(head);
  return {h, Decoder(body.data + coded, body.size - coded, what)};
}

void check_stream(const Stream& s) {
  if (s.shapes.size() > kMaxLevels || s.symbols.size() != s.shapes.size())
    throw std::invalid_argument("codec: one symbol array per level, at most 16 levels");
  const bool steps = s.method == Method::guided || s.method == Method::random;
  for (size_t l = 0; l < s.shapes.size(); ++l) {
    if (s.symbols[l].size() != s.shapes[l].elements())
      throw std::invalid_argument("codec: level " + std::to_string(l) + " has the wrong number of symbols");
    if (steps && (s.log_steps.size() != s.shapes.size() || s.log_steps[l].size() != s.shapes[l].tokens()))
      throw std::invalid_argument("codec: level " + std::to_string(l) + " needs one log-step per token");
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

float token_step(float base, int32_t q) {
  static const float kFraction[8] = {1.0f, 1.0905077326652577f, 1.189207115002721f, 1.2968395546510096f,
                                     1.4142135623730951f, 1.5422108254079407f, 1.681792830507429f, 1.8340080864093424f};
  const int32_t a = q >= 0 ? q / 8 : -((-q + 7) / 8);  // floor(q / 8)
  return std::ldexp(base * kFraction[q - 8 * a], a);
}

int32_t log_step_index(float step, float base) {
  if (!(step > 0) || !(base > 0)) return -100000;
  const double q = std::round(8.0 * std::log2(double(step) / double(base)));
  return static_cast<int32_t>(std::clamp(q, -100000.0, 100000.0));
}

std::vector<uint8_t> encode(const Stream& s, Sizes* sizes) {
  check_stream(s);
  std::vector<uint8_t> out;
  for (char c : kMagic) out.push_back(static_cast<uint8_t>(c));
  for (uint8_t b : {kVersion, static_cast<uint8_t>(s.method), uint8_t(0), static_cast<uint8_t>(s.shapes.size())})
    out.push_back(b);
  for (auto& sh : s.shapes)
    for (uint32_t d : {sh.n, sh.c, sh.h, sh.w}) put_varint(out, d);
  std::vector<uint8_t> head;
  Encoder side;
  if (s.method == Method::minmax) {
    put_f32(head, s.low), put_f32(head, s.high), head.push_back(s.bits);
  } else {
    put_f32(head, s.step);
  }
  if (s.method == Method::guided || s.method == Method::random)
    for (auto& q : s.log_steps) {
      auto m = model_for(q);
      put_table(head, m);
      side.symbols(m, q.data(), q.size());
    }
  put_section(out, head, side);
  const size_t side_end = out.size();
  head.clear();
  Encoder payload;
  for (auto& v : s.symbols) {
    auto m = model_for(v);
    put_table(head, m);
    payload.symbols(m, v.data(), v.size());
  }
  put_section(out, head, payload);
  // A CRC-32 of everything before it: a damaged bitstream is refused, never decoded into noise.
  const uint32_t crc = static_cast<uint32_t>(crc32(0L, out.data(), static_cast<uInt>(out.size())));
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(crc >> (8 * i)));
  if (sizes) *sizes = {out.size(), side_end};
  return out;
}

Stream decode(const uint8_t* data, size_t size, uint64_t max_elements) {
  if (size < 12 || std::memcmp(data, kMagic, 4) != 0) throw CodecError("feature bitstream: no FJNC magic");
  if (data[4] != kVersion)
    throw CodecError("feature bitstream: version " + std::to_string(data[4]) + "; this engine reads version 1");
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
  uint64_t total = 0;
  for (uint8_t l = 0; l < levels; ++l) {
    LevelShape sh{shape_dim(r), shape_dim(r), shape_dim(r), shape_dim(r)};
    const unsigned __int128 e = static_cast<unsigned __int128>(uint64_t(sh.n) * sh.c) * (uint64_t(sh.h) * sh.w);
    if (e > max_elements || total + static_cast<uint64_t>(e) > max_elements)
      throw CodecError("feature bitstream: the levels hold more than " + std::to_string(max_elements) + " elements");
    total += static_cast<uint64_t>(e);
    s.shapes.push_back(sh);
  }
  {
    auto [head, side] = get_section(r, "feature bitstream, side information");
    if (s.method == Method::minmax) s.low = head.f32(), s.high = head.f32(), s.bits = head.byte();
    else s.step = head.f32();
    if (s.method == Method::guided || s.method == Method::random)
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
  if (r.pos != size) throw CodecError("feature bitstream: " + std::to_string(size - r.pos) + " bytes after the payload");
  return s;
}

}  // namespace featjnd::codec
