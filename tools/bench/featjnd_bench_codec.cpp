// featjnd-bench-codec: the feature codec's entropy coder against zstd at its strongest level and
// htscodecs' adaptive arithmetic coder (orders 0 and 1) on the same symbol streams, one core each:
// size, bits per symbol, encode and decode MB/s (of the symbols as bytes, int8 where they fit, else
// int16), and the stream's empirical entropy N·H.
//
//   build/featjnd-bench-codec                      # synthetic streams (Laplacian, skewed, wide)
//   build/featjnd-bench-codec --bitstream FILE     # the symbols of an engine bitstream artifact
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <htscodecs/arith_dynamic.h>
#include <zstd.h>

#include "codec/bitstream.h"

using namespace featjnd::codec;
using Clock = std::chrono::steady_clock;

namespace {

struct Result {
  std::string coder;
  size_t bytes = 0;
  double enc_mbps = 0, dec_mbps = 0;
  bool exact = false;
};

// Seconds per call of f, repeated for at least 0.3 s.
double seconds_per(const std::function<void()>& f) {
  int n = 0;
  auto t0 = Clock::now();
  double s = 0;
  do {
    f();
    ++n;
    s = std::chrono::duration<double>(Clock::now() - t0).count();
  } while (s < 0.3);
  return s / n;
}

std::vector<uint8_t> as_bytes(const std::vector<int32_t>& v, int& width) {
  int32_t lo = 0, hi = 0;
  for (int32_t x : v) lo = std::min(lo, x), hi = std::max(hi, x);
  width = lo >= -128 && hi <= 127 ? 1 : 2;
  std::vector<uint8_t> out(v.size() * size_t(width));
  for (size_t i = 0; i < v.size(); ++i) {
    if (width == 1) out[i] = static_cast<uint8_t>(static_cast<int8_t>(v[i]));
    else out[2 * i] = static_cast<uint8_t>(v[i] & 0xff), out[2 * i + 1] = static_cast<uint8_t>((v[i] >> 8) & 0xff);
  }
  return out;
}

Result ours(const std::vector<int32_t>& symbols, double mb) {
  Stream s;
  s.shapes = {{1, 1, 1, static_cast<uint32_t>(symbols.size())}};
  s.symbols = {symbols};
  std::vector<uint8_t> bytes;
  Result r{"featjnd rANS (static table)", 0, 0, 0, false};
  r.enc_mbps = mb / seconds_per([&] { bytes = encode(s); });
  Stream d;
  r.dec_mbps = mb / seconds_per([&] { d = decode(bytes.data(), bytes.size()); });
  r.bytes = bytes.size();
  r.exact = d.symbols == s.symbols;
  return r;
}

Result zstd(const std::vector<uint8_t>& in, double mb) {
  const int level = ZSTD_maxCLevel();
  std::vector<uint8_t> out(ZSTD_compressBound(in.size())), back(in.size());
  size_t n = 0;
  Result r{"zstd -" + std::to_string(level), 0, 0, 0, false};
  r.enc_mbps = mb / seconds_per([&] { n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), level); });
  size_t m = 0;
  r.dec_mbps = mb / seconds_per([&] { m = ZSTD_decompress(back.data(), back.size(), out.data(), n); });
  r.bytes = n;
  r.exact = m == in.size() && back == in;
  return r;
}

Result arith(std::vector<uint8_t> in, int order, double mb) {
  std::vector<uint8_t> out(arith_compress_bound(static_cast<unsigned>(in.size()), order)), back(in.size());
  unsigned n = 0;
  Result r{"htscodecs arith order " + std::to_string(order), 0, 0, 0, false};
  r.enc_mbps = mb / seconds_per([&] {
    n = static_cast<unsigned>(out.size());
    arith_compress_to(in.data(), static_cast<unsigned>(in.size()), out.data(), &n, order);
  });
  unsigned m = 0;
  r.dec_mbps = mb / seconds_per([&] {
    m = static_cast<unsigned>(back.size());
    arith_uncompress_to(out.data(), n, back.data(), &m);
  });
  r.bytes = n;
  r.exact = m == in.size() && back == in;
  return r;
}

double entropy_bits(const std::vector<int32_t>& v) {
  std::map<int32_t, double> c;
  for (int32_t x : v) c[x] += 1;
  double h = 0;
  for (auto& [k, n] : c) h -= n * std::log2(n / double(v.size()));
  return h;
}

void bench(const std::string& name, const std::vector<int32_t>& symbols) {
  int width = 1;
  auto bytes = as_bytes(symbols, width);
  const double mb = double(bytes.size()) / 1e6;
  std::printf("\n%s: %zu symbols (as int%d: %.2f MB), entropy N·H = %.0f bytes (%.3f bits/symbol)\n", name.c_str(),
              symbols.size(), 8 * width, mb, entropy_bits(symbols) / 8, entropy_bits(symbols) / double(symbols.size()));
  std::printf("  %-30s %12s %10s %12s %12s %6s\n", "coder", "bytes", "bits/sym", "enc MB/s", "dec MB/s", "exact");
  for (auto& r : {ours(symbols, mb), zstd(bytes, mb), arith(bytes, 0, mb), arith(bytes, 1, mb)})
    std::printf("  %-30s %12zu %10.4f %12.1f %12.1f %6s\n", r.coder.c_str(), r.bytes, 8.0 * double(r.bytes) / double(symbols.size()),
                r.enc_mbps, r.dec_mbps, r.exact ? "yes" : "NO");
}

std::vector<int32_t> synthetic(const std::string& kind, size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::vector<int32_t> v(n);
  std::geometric_distribution<int> g(kind == "wide" ? 0.02 : 0.35);
  std::bernoulli_distribution sign(0.5), zero(0.6);
  for (auto& x : v) {
    if (kind == "skewed") x = zero(gen) ? 0 : g(gen);  // post-ReLU features: half zeros, the rest positive
    else x = (sign(gen) ? 1 : -1) * g(gen);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--bitstream") {
    std::ifstream in(argv[2], std::ios::binary);
    std::vector<uint8_t> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    try {
      auto s = decode(b.data(), b.size());
      std::vector<int32_t> all;
      for (auto& l : s.symbols) all.insert(all.end(), l.begin(), l.end());
      std::printf("%s: %zu bytes as coded by the engine (side information included)\n", argv[2], b.size());
      bench("symbols of " + std::string(argv[2]), all);
    } catch (const CodecError& e) {
      std::fprintf(stderr, "featjnd-bench-codec: error: %s\n", e.what());
      return 1;
    }
    return 0;
  }
  if (argc != 1) {
    std::fprintf(stderr, "usage: featjnd-bench-codec [--bitstream FILE]\n");
    return 2;
  }
  bench("Laplacian-like, quantized features (two-sided geometric, p = 0.35)", synthetic("laplace", 2000000, 1));
  bench("post-ReLU-like (60 % zeros, geometric tail)", synthetic("skewed", 2000000, 2));
  bench("wide (two-sided geometric, p = 0.02: int16)", synthetic("wide", 2000000, 3));
  return 0;
}
