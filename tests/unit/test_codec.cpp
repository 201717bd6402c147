// The feature codec: bit-exact round trips (every method, empty levels, one symbol, escapes,
// ±2³¹, one-token maps), efficiency against the empirical entropy, and refusal of damaged input.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <random>

#include "codec/bitstream.h"

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

void check_round_trip(const Stream& s) {
  Sizes sizes;
  auto bytes = encode(s, &sizes);
  CHECK(sizes.total == bytes.size());
  CHECK(sizes.side < sizes.total);
  auto d = decode(bytes.data(), bytes.size());
  CHECK(d.method == s.method);
  REQUIRE(d.shapes.size() == s.shapes.size());
  for (size_t l = 0; l < s.shapes.size(); ++l) {
    CHECK(d.shapes[l].elements() == s.shapes[l].elements());
    CHECK(d.symbols[l] == s.symbols[l]);
    if (!s.log_steps.empty()) CHECK(d.log_steps[l] == s.log_steps[l]);
  }
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
  auto bytes = encode(stream_of(Method::guided, {{1, 4, 8, 8}, {1, 4, 4, 4}}, 10));
  for (size_t n = 0; n < bytes.size(); ++n) CHECK_THROWS_AS(decode(bytes.data(), n), CodecError);
  std::mt19937 gen(11);
  for (int k = 0; k < 200; ++k) {
    auto damaged = bytes;
    damaged[gen() % damaged.size()] ^= static_cast<uint8_t>(1u << (gen() % 8));
    CHECK_THROWS_AS(decode(damaged.data(), damaged.size()), CodecError);
  }
  auto future = bytes;
  future[4] = 2;
  CHECK_THROWS_WITH_AS(decode(future.data(), future.size()), "feature bitstream: version 2; this engine reads version 1",
                       CodecError);
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
