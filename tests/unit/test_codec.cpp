// The feature codec: bit-exact round trips (every method, empty levels, one symbol, escapes,
// ±2³¹, one-token maps), efficiency against the empirical entropy, and refusal of damaged input.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <random>

#include <zlib.h>

#include "codec/bitstream.h"
#include "codec/interleaved.h"

using namespace featjnd::codec;

namespace {

Stream stream_of(Method m, std::vector<LevelShape> shapes, uint32_t seed) {
  std::mt19937 gen(seed);
  std::geometric_distribution<int> g(0.3);
  std::bernoulli_distribution sign(0.5);
  Stream s;
  s.method = m;
  s.shapes = shapes;
  s.step = 0.37f;
  s.low = -3.5f, s.high = 7.25f, s.bits = 10;
  for (auto& sh : shapes) {
    std::vector<int32_t> v(sh.elements()), q(sh.tokens());
    for (auto& x : v) x = m == Method::minmax ? static_cast<int32_t>(gen() % 1024) : (sign(gen) ? 1 : -1) * g(gen);
    for (auto& x : q) x = static_cast<int32_t>(gen() % 17) - 8;
    s.symbols.push_back(v);
    if (m == Method::guided || m == Method::random) s.log_steps.push_back(q);
  }
  return s;
}

void check_decoded(const Stream& s, const Stream& d);

// Every bitstream version that can carry the stream; versions 2 and 3 through the AVX2 decoder
// (where the CPU has it) and the scalar one.
void check_round_trip(const Stream& s) {
  const bool per_token = s.step_block == 1 && s.step_stride == 1;
  for (uint8_t version : {1, 2, 3}) {
    if (version < 3 && !per_token) {
      CHECK_THROWS_AS(encode(s, nullptr, version), std::invalid_argument);
      continue;
    }
    CAPTURE(int(version));
    Sizes sizes;
    auto bytes = encode(s, &sizes, version);
    CHECK(bytes[4] == version);
    CHECK(sizes.total == bytes.size());
    CHECK(sizes.side < sizes.total);
    check_decoded(s, decode(bytes.data(), bytes.size()));
    if (version >= 2) check_decoded(s, decode(bytes.data(), bytes.size(), uint64_t(1) << 28, /*simd=*/false));
  }
}

void check_decoded(const Stream& s, const Stream& d) {
  CHECK(d.method == s.method);
  REQUIRE(d.shapes.size() == s.shapes.size());
  for (size_t l = 0; l < s.shapes.size(); ++l) {
    CHECK(d.shapes[l].elements() == s.shapes[l].elements());
    CHECK(d.symbols[l] == s.symbols[l]);
    if (!s.log_steps.empty()) CHECK(d.log_steps[l] == s.log_steps[l]);
  }
  if (!s.log_steps.empty()) CHECK((d.step_block == s.step_block && d.step_stride == s.step_stride));
  if (s.method != Method::minmax) CHECK(d.step == s.step);
  if (s.method == Method::minmax) CHECK((d.low == s.low && d.high == s.high && d.bits == s.bits));
}

}  // namespace

TEST_CASE("codec: every method round-trips bit for bit, five levels of different sizes") {
  const std::vector<LevelShape> fpn = {{2, 8, 16, 16}, {2, 8, 8, 8}, {2, 8, 4, 4}, {2, 8, 2, 2}, {2, 8, 1, 1}};
  for (auto m : {Method::guided, Method::random, Method::uniform, Method::minmax}) {
    CAPTURE(static_cast<int>(m));
    check_round_trip(stream_of(m, fpn, 1));
  }
}

TEST_CASE("codec: edge cases — empty levels, one symbol, one token, everything escaped, ±2^31") {
  check_round_trip(stream_of(Method::uniform, {}, 2));
  check_round_trip(stream_of(Method::guided, {{0, 4, 3, 3}, {1, 0, 0, 0}}, 3));
  check_round_trip(stream_of(Method::guided, {{1, 1, 1, 1}}, 4));
  check_round_trip(stream_of(Method::random, {{3, 16, 1, 1}}, 5));  // one-token maps
  Stream extreme = stream_of(Method::uniform, {{1, 1, 4, 4}}, 6);
  extreme.symbols[0] = {INT32_MIN, INT32_MAX, 0, -1, 1, INT32_MIN + 1, INT32_MAX - 1, 123456789, -987654321,
                        1 << 20, -(1 << 20), 5, 6, 7, 8, 9};
  check_round_trip(extreme);
  // Values spread far wider than a table's window: most are escapes.
  Stream wide = stream_of(Method::uniform, {{1, 4, 32, 32}}, 7);
  std::mt19937 gen(8);
  for (auto& x : wide.symbols[0]) x = static_cast<int32_t>(gen());
  check_round_trip(wide);
}

TEST_CASE("codec: on 10^5 i.i.d. symbols the payload is within 1 % of N·H plus the header") {
  std::mt19937 gen(9);
  std::discrete_distribution<int> d({30, 20, 15, 10, 8, 6, 4, 3, 2, 1, 0.5, 0.5});
  Stream s;
  s.shapes = {{1, 1, 250, 400}};
  s.symbols.emplace_back(100000);
  std::map<int32_t, double> counts;
  for (auto& x : s.symbols[0]) counts[x = d(gen) - 3] += 1;
  double bits = 0;
  for (auto& [v, c] : counts) bits -= c * std::log2(c / 1e5);
  Sizes sizes;
  auto bytes = encode(s, &sizes);
  const double overhead = 40;  // magic, version, shape, section lengths, the table, CRC
  MESSAGE("payload " << bytes.size() << " bytes, N·H = " << bits / 8 << " bytes");
  CHECK(double(bytes.size()) <= 1.01 * bits / 8 + overhead);
  CHECK(double(bytes.size()) >= bits / 8);  // nothing codes below the entropy
}

TEST_CASE("codec: damaged, truncated or foreign bitstreams are refused with a reason, never decoded") {
  // Long enough for 8-way streams (the AVX2 decoder's path) on the larger level.
  auto bytes = encode(stream_of(Method::guided, {{1, 8, 32, 32}, {1, 4, 4, 4}}, 10));
  auto v1 = encode(stream_of(Method::guided, {{1, 4, 8, 8}, {1, 4, 4, 4}}, 10), nullptr, 1);
  for (size_t n = 0; n < v1.size(); ++n) CHECK_THROWS_AS(decode(v1.data(), n), CodecError);
  for (size_t n = 0; n < bytes.size(); ++n) CHECK_THROWS_AS(decode(bytes.data(), n), CodecError);
  std::mt19937 gen(11);
  for (int k = 0; k < 200; ++k) {
    auto damaged = bytes;
    damaged[gen() % damaged.size()] ^= static_cast<uint8_t>(1u << (gen() % 8));
    CHECK_THROWS_AS(decode(damaged.data(), damaged.size()), CodecError);
  }
  auto future = bytes;
  future[4] = 4;
  CHECK_THROWS_WITH_AS(decode(future.data(), future.size()),
                       "feature bitstream: version 4; this engine reads versions 1 to 3", CodecError);
  auto foreign = bytes;
  foreign[0] = 'X';
  CHECK_THROWS_WITH_AS(decode(foreign.data(), foreign.size()), "feature bitstream: no FJNC magic", CodecError);
}

TEST_CASE("codec: a token's step is base · 2^(q/8), the same float everywhere") {
  CHECK(token_step(1.0f, 0) == 1.0f);
  CHECK(token_step(1.0f, 8) == 2.0f);
  CHECK(token_step(1.0f, -8) == 0.5f);
  CHECK(token_step(3.0f, 4) == doctest::Approx(3.0 * std::sqrt(2.0)).epsilon(1e-7));
  CHECK(token_step(1.0f, -3) == doctest::Approx(std::pow(2.0, -3.0 / 8)).epsilon(1e-7));
  CHECK(log_step_index(token_step(0.7f, -13), 0.7f) == -13);
  // rANS on its own: bypass bits and escapes interleaved with modelled symbols.
  auto m = Model::from_counts(-2, {1, 5, 20, 5, 1}, 1);
  Encoder e;
  e.symbol(m, 0);
  e.bits(0x2a5, 11);
  e.symbol(m, 1000);
  e.bits(0xdeadbeefcafeull, 48);
  e.symbol(m, -2);
  auto b = e.finish();
  Decoder dec(b.data(), b.size(), "test");
  CHECK(dec.symbol(m) == 0);
  CHECK(dec.bits(11) == 0x2a5);
  CHECK(dec.symbol(m) == 1000);
  CHECK(dec.bits(48) == 0xdeadbeefcafeull);
  CHECK(dec.symbol(m) == -2);
  dec.finish();
  uint32_t sum = 0;
  for (auto f : m.frequencies()) {
    sum += f;
    CHECK(f >= 1);
  }
  CHECK(sum == kProbScale);
}

TEST_CASE("interleaved rANS: the encoder's reciprocal division equals x / freq over the states' range") {
  std::mt19937 gen(12);
  for (uint32_t bits : {12u, 15u}) {
    // A model whose frequencies run from 1 to nearly 2^bits: every reciprocal case.
    std::vector<uint64_t> counts = {1, 2, 3, 1000, 100000, 5, 1u << 30};
    const Model m = Model::from_counts(0, counts, 1, bits);
    const interleaved::Tables t(m);
    for (uint32_t i = 0; i <= m.size(); ++i) {
      const uint32_t f = m.freq(i);
      const auto& e = t.encode[i];
      CAPTURE(f);
      for (int k = 0; k < 20000; ++k) {
        // The encoder divides states in [f·2^(15−bits), f·2^(31−bits)), the edges included.
        const uint64_t lo = uint64_t(f) << (15 - bits), hi = uint64_t(f) << (31 - bits);
        const uint32_t x = static_cast<uint32_t>(k == 0 ? lo : k == 1 ? hi - 1 : lo + gen() % (hi - lo));
        const uint32_t q = static_cast<uint32_t>((uint64_t(x) * e.rcp_freq) >> 32) >> e.rcp_shift;
        REQUIRE(x + e.bias + q * e.cmpl_freq == (x / f << bits) + x % f + m.start(i));
      }
    }
  }
}

namespace {

std::vector<int32_t> laplacian(size_t n, double p, uint32_t seed) {
  std::mt19937 gen(seed);
  std::geometric_distribution<int> g(p);
  std::bernoulli_distribution sign(0.5);
  std::vector<int32_t> v(n);
  for (auto& x : v) x = (sign(gen) ? 1 : -1) * g(gen);
  return v;
}

// decode() through `simd`, or the CodecError's message.
std::string decoded_or_error(const std::vector<uint8_t>& b, bool simd, std::vector<int32_t>* out) {
  try {
    *out = decode(b.data(), b.size(), uint64_t(1) << 28, simd).symbols.at(0);
    return "";
  } catch (const CodecError& e) {
    return e.what();
  }
}

}  // namespace

TEST_CASE("interleaved rANS: the AVX2 and the scalar decoder agree, on every length, precision and damage") {
  MESSAGE("AVX2 decoder on this machine: " << (interleaved::simd_available() ? "yes" : "no (both paths are scalar)"));
  for (size_t n : {0, 1, 7, 8, 9, 31, 33, 2047, 2048, 2049, 16383, 16384, 16385, 100003}) {
    for (double p : {0.35, 0.02, 0.95}) {  // a Laplacian (12-bit table), a wide one (15 bits, escapes), a peaked one
      CAPTURE(n);
      CAPTURE(p);
      Stream s;
      s.shapes = {{1, 1, 1, static_cast<uint32_t>(n)}};
      s.symbols = {laplacian(n, p, static_cast<uint32_t>(n))};
      auto bytes = encode(s);
      std::vector<int32_t> a, b;
      REQUIRE(decoded_or_error(bytes, true, &a).empty());
      REQUIRE(decoded_or_error(bytes, false, &b).empty());
      CHECK(a == s.symbols[0]);
      CHECK(b == s.symbols[0]);
    }
  }
  // Damage behind a valid CRC: both decoders refuse it alike, or decode it to the same values.
  Stream s;
  s.shapes = {{1, 1, 1, 50000}};
  s.symbols = {laplacian(50000, 0.3, 13)};
  const auto bytes = encode(s);
  std::mt19937 gen(14);
  int refused = 0;
  for (int k = 0; k < 300; ++k) {
    auto d = bytes;
    d[16 + gen() % (d.size() - 20)] ^= static_cast<uint8_t>(1u << (gen() % 8));
    const uint32_t crc = static_cast<uint32_t>(crc32(0L, d.data(), static_cast<uInt>(d.size() - 4)));
    for (int i = 0; i < 4; ++i) d[d.size() - 4 + i] = static_cast<uint8_t>(crc >> (8 * i));
    std::vector<int32_t> a, b;
    const auto ea = decoded_or_error(d, true, &a), eb = decoded_or_error(d, false, &b);
    CHECK(ea == eb);
    if (ea.empty()) CHECK(a == b);
    refused += !ea.empty();
  }
  MESSAGE(refused << " of 300 damaged streams refused");
  CHECK(refused > 250);
}

TEST_CASE("codec version 2: within 1 % of N·H on the benchmark's streams, 12-bit tables where they cost < 0.5 %") {
  for (double p : {0.35, 0.9, 0.02}) {
    CAPTURE(p);
    const auto v = laplacian(1000000, p, 15);
    std::map<int32_t, double> counts;
    for (int32_t x : v) counts[x] += 1;
    double bits = 0;
    for (auto& [x, c] : counts) bits -= c * std::log2(c / double(v.size()));
    Stream s;
    s.shapes = {{1, 1, 1000, 1000}};
    s.symbols = {v};
    const auto bytes = encode(s);
    MESSAGE("p " << p << ": " << bytes.size() << " bytes, N·H " << bits / 8 << ", table bits " << table_for(v, 0).bits());
    CHECK(double(bytes.size()) <= 1.01 * bits / 8 + 200);
  }
  CHECK(table_for(laplacian(100000, 0.35, 16), 0).bits() == 12);
}

TEST_CASE("codec version 2: a small 12-bit table is packed, and its AVX2 path decodes as the scalar one") {
  const auto v = laplacian(300000, 0.35, 17);
  const Model m = table_for(v, 0);
  REQUIRE(m.bits() == 12);
  CHECK(!interleaved::Tables(m).packed.empty());
  CHECK(interleaved::Tables(table_for(laplacian(300000, 0.02, 18), 0)).packed.empty());  // > 127 values
  Stream s;
  s.shapes = {{1, 3, 100, 1000}};
  s.symbols = {v};
  auto bytes = encode(s);
  CHECK(decode(bytes.data(), bytes.size(), uint64_t(1) << 28, true).symbols == s.symbols);
  CHECK(decode(bytes.data(), bytes.size(), uint64_t(1) << 28, false).symbols == s.symbols);
  // A changed word in the middle of the stream (CRC fixed up): both decoders give the same
  // refusal or the same symbols.
  for (size_t at : {bytes.size() / 3, bytes.size() / 2}) {
    auto d = bytes;
    d[at] ^= 0x5a;
    const uint32_t crc = static_cast<uint32_t>(crc32(0L, d.data(), static_cast<uInt>(d.size() - 4)));
    for (int i = 0; i < 4; ++i) d[d.size() - 4 + static_cast<size_t>(i)] = static_cast<uint8_t>(crc >> (8 * i));
    std::string ea, eb;
    std::vector<std::vector<int32_t>> sa, sb;
    try { sa = decode(d.data(), d.size(), uint64_t(1) << 28, true).symbols; } catch (const CodecError& e) { ea = e.what(); }
    try { sb = decode(d.data(), d.size(), uint64_t(1) << 28, false).symbols; } catch (const CodecError& e) { eb = e.what(); }
    CHECK(ea == eb);
    CHECK(sa == sb);
  }
}

namespace {

// A stream whose step map has one entry per block × block tokens, on the multiples of `stride`.
Stream blocked(std::vector<LevelShape> shapes, uint8_t block, uint8_t stride, uint32_t seed) {
  Stream s = stream_of(Method::guided, shapes, seed);
  s.step_block = block, s.step_stride = stride;
  std::mt19937 gen(seed);
  for (size_t l = 0; l < shapes.size(); ++l) {
    s.log_steps[l].resize(shapes[l].blocks(block));
    for (auto& q : s.log_steps[l]) q = stride * (static_cast<int32_t>(gen() % 9) - 4);
  }
  return s;
}

// A bitstream with its CRC made valid again after a deliberate change.
void fix_crc(std::vector<uint8_t>& d) {
  const uint32_t crc = static_cast<uint32_t>(crc32(0L, d.data(), static_cast<uInt>(d.size() - 4)));
  for (int i = 0; i < 4; ++i) d[d.size() - 4 + static_cast<size_t>(i)] = static_cast<uint8_t>(crc >> (8 * i));
}

}  // namespace

TEST_CASE("codec version 3: block step maps (edges cut) and coarse strides round-trip; versions 1 and 2 refuse them") {
  // 7 × 5 tokens in blocks of 3: 3 × 2 blocks, the last row and column cut.
  CHECK(LevelShape{2, 4, 7, 5}.blocks(3) == 2 * 3 * 2);
  CHECK(LevelShape{2, 4, 7, 5}.blocks(1) == LevelShape{2, 4, 7, 5}.tokens());
  for (uint8_t block : {1, 2, 3, 8})
    for (uint8_t stride : {1, 2, 8}) {
      CAPTURE(int(block));
      CAPTURE(int(stride));
      check_round_trip(blocked({{2, 4, 7, 5}, {2, 4, 16, 16}, {1, 3, 1, 1}}, block, stride, 20 + block + stride));
    }
  Stream off = blocked({{1, 2, 4, 4}}, 2, 4, 30);
  off.log_steps[0][1] = 3;  // not a multiple of 4
  CHECK_THROWS_AS(encode(off), std::invalid_argument);
  Stream wrong = blocked({{1, 2, 4, 4}}, 2, 1, 31);
  wrong.log_steps[0].push_back(0);  // one entry more than the 2 × 2 blocks
  CHECK_THROWS_AS(encode(wrong), std::invalid_argument);
}

TEST_CASE("codec version 3: the median predictor, by hand and on extremes") {
  // 2 × 3 grid: first row from the left (the first value from 0), first column from above; then
  // a = left, b = above, c = upper-left: c ≤ min(a, b) predicts max(a, b).
  const std::vector<int32_t> ramp = {1, 2, 3, 4, 5, 6};
  CHECK(median_residuals(ramp, 1, 2, 3) == std::vector<int32_t>{1, 1, 1, 3, 1, 1});
  // c between a and b predicts a + b − c: a = 3, b = 5, c = 4 → 4; c ≥ max(a, b) predicts min.
  CHECK(median_residuals({4, 5, 3, 9}, 1, 2, 2) == std::vector<int32_t>{4, 1, -1, 5});
  CHECK(median_residuals({9, 2, 3, 1}, 1, 2, 2) == std::vector<int32_t>{9, -7, -6, -1});
  std::mt19937 gen(32);
  std::vector<int32_t> v(3 * 11 * 13);
  for (auto& x : v) x = static_cast<int32_t>(gen());
  v[0] = INT32_MIN, v[1] = INT32_MAX, v[14] = INT32_MIN;
  auto r = median_residuals(v, 3, 11, 13);
  undo_median_residuals(r, 3, 11, 13);
  CHECK(r == v);
}

TEST_CASE("codec version 3: a smooth step map costs less side information, a noisy one at most 3 bytes a level more") {
  LevelShape sh{2, 4, 48, 48};
  Stream smooth = blocked({sh}, 1, 1, 33), noisy = blocked({sh}, 1, 1, 34);
  for (uint32_t k = 0; k < sh.n; ++k)
    for (uint32_t y = 0; y < sh.h; ++y)
      for (uint32_t x = 0; x < sh.w; ++x)
        smooth.log_steps[0][(k * sh.h + y) * sh.w + x] = static_cast<int32_t>(y / 3 + x / 4) - 10;
  for (const Stream* s : {&smooth, &noisy}) {
    Sizes v2, v3;
    encode(*s, &v2, 2);
    encode(*s, &v3, 3);
    MESSAGE(std::string(s == &smooth ? "smooth" : "noisy") << " map: side " << v2.side << " bytes in version 2, " << v3.side << " in 3");
    if (s == &smooth) CHECK(double(v3.side) < 0.6 * double(v2.side));
    else CHECK(v3.side <= v2.side + 3);
  }
}

TEST_CASE("codec version 3: a damaged side head is refused in one line") {
  Stream s = blocked({{1, 2, 4, 4}}, 2, 2, 35);
  auto bytes = encode(s);
  // The side head: magic, version, method, dtype, levels, 4 shape varints, section and head
  // lengths, the base step; then block and stride.
  const size_t head = 4 + 4 + 4 + 2 + 4;
  REQUIRE(bytes[head] == 2);
  REQUIRE(bytes[head + 1] == 2);
  auto zero_block = bytes;
  zero_block[head] = 0;
  fix_crc(zero_block);
  CHECK_THROWS_WITH_AS(decode(zero_block.data(), zero_block.size()),
                       "feature bitstream, side information: a step map's block and stride are 1 to 255 and 1 to 64",
                       CodecError);
  auto prediction = bytes;
  prediction[head + 2] = 7;
  fix_crc(prediction);
  CHECK_THROWS_WITH_AS(decode(prediction.data(), prediction.size()),
                       "feature bitstream, side information: unknown prediction 7", CodecError);
}

TEST_CASE("codec: the log-step index on a coarser grid is the nearest multiple of the stride") {
  CHECK(log_step_index(token_step(1.0f, 13), 1.0f, 1) == 13);
  CHECK(log_step_index(token_step(1.0f, 13), 1.0f, 4) == 12);
  CHECK(log_step_index(token_step(1.0f, 13), 1.0f, 8) == 16);
  CHECK(log_step_index(token_step(1.0f, -13), 1.0f, 8) == -16);
  CHECK(log_step_index(token_step(1.0f, -11), 1.0f, 2) == -12);  // -5.5 rounds away from 0
  CHECK(log_step_index(0.0f, 1.0f, 8) % 8 == 0);                 // the "no step" index too
}

TEST_CASE("interleaved rANS: the AVX2 encoder writes the scalar encoder's bytes, on every length, table and escape") {
  MESSAGE("AVX2 encoder on this machine: " << (interleaved::simd_available() ? "yes" : "no (both paths are scalar)"));
  std::mt19937 gen(40);
  for (size_t n : {0, 1, 7, 8, 9, 15, 16, 17, 255, 256, 2047, 2048, 2049, 16383, 16384, 16391, 100003}) {
    for (double p : {0.35, 0.02, 0.95}) {  // 12-bit packed, 15-bit with escapes, peaked (frequency 1 symbols)
      CAPTURE(n);
      CAPTURE(p);
      Stream s;
      s.shapes = {{1, 1, 1, static_cast<uint32_t>(n)}};
      s.symbols = {laplacian(n, p, static_cast<uint32_t>(n) + 41)};
      if (n > 100) s.symbols[0][gen() % n] = INT32_MIN, s.symbols[0][gen() % n] = INT32_MAX;  // escapes at the extremes
      const auto vector = encode(s, nullptr, kVersion, true), scalar = encode(s, nullptr, kVersion, false);
      CHECK(vector == scalar);
      CHECK(decode(vector.data(), vector.size()).symbols == s.symbols);
    }
  }
  // Every way count on its own: 8 and 32 ways through the kernel, with a table of frequency-1
  // symbols (the reciprocal's special case) and one of 15 bits.
  for (int ways : {8, 32}) {
    for (uint32_t bits : {12u, 15u}) {
      CAPTURE(ways);
      CAPTURE(bits);
      auto v = laplacian(50000, 0.05, 42 + bits);
      const Model m = table_for(v, bits);
      const interleaved::Tables t(m);
      std::vector<uint8_t> a, b;
      std::vector<int32_t> ea, eb;
      interleaved::encode(t, v.data(), v.size(), ways, a, &ea, true);
      interleaved::encode(t, v.data(), v.size(), ways, b, &eb, false);
      CHECK(a == b);
      CHECK(ea == eb);
    }
  }
}

TEST_CASE("codec: a header whose step map would outgrow the bound is refused before any allocation") {
  // C = 0: no elements, yet 2^24 · 2^24 · 2^8 tokens, each with a log-step to decode.
  std::vector<uint8_t> b = {'F', 'J', 'N', 'C', kVersion, uint8_t(Method::guided), 0, 1};
  for (uint64_t d : {uint64_t(1) << 24, uint64_t(0), uint64_t(1) << 24, uint64_t(1) << 8}) put_varint(b, d);
  b.insert(b.end(), 16, 0);  // sections the decoder must not reach
  const uint32_t crc = static_cast<uint32_t>(crc32(0L, b.data(), static_cast<uInt>(b.size())));
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(crc >> (8 * i)));
  CHECK_THROWS_WITH_AS(decode(b.data(), b.size()), "feature bitstream: the levels hold more than 268435456 tokens",
                       CodecError);
}
