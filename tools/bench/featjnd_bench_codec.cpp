// featjnd-bench-codec: the feature codec's entropy coder (bitstream version 3 with its AVX2 and
// scalar encoders and decoders, and version 1) against htscodecs' static rANS (4x16 and 32x16, orders 0 and 1)
// and adaptive arithmetic coder, zstd at its strongest level and CompressAI's rANS (given the same
// static table; run through tools/bench/compressai_peer.py with the project's Python, where
// compressai imports) on the same symbol streams, one core each: size against the stream's
// empirical entropy N·H, and encode and decode MB/s (of the symbols as bytes, int8 where they fit,
// else int16) at the fastest and the median of repeated calls.
//
//   build/featjnd-bench-codec                      # synthetic streams (Laplacian, skewed, wide)
//   build/featjnd-bench-codec --bitstream FILE     # the symbols of an engine bitstream artifact
#include <algorithm>
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

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <optional>

#include <htscodecs/arith_dynamic.h>
#include <htscodecs/rANS_static4x16.h>
#include <nlohmann/json.hpp>
#include <zstd.h>

#include "codec/bitstream.h"

using namespace featjnd::codec;
using Clock = std::chrono::steady_clock;

namespace {

// MB/s at the fastest call and at the median one.
struct Rate {
  double best = 0, median = 0;
};

struct Result {
  std::string coder;
  size_t bytes = 0;
  Rate enc, dec;
  bool exact = false;
};

// Seconds per call of f: the minimum and the median over repeated calls (at least 5, and at
// least 0.5 s in all).
std::pair<double, double> seconds_per(const std::function<void()>& f) {
  std::vector<double> t;
  double total = 0;
  while (t.size() < 5 || total < 0.5) {
    auto t0 = Clock::now();
    f();
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    total += t.back();
  }
  std::sort(t.begin(), t.end());
  return {t.front(), t[t.size() / 2]};
}

Rate rate(double mb, const std::function<void()>& f) {
  auto [best, median] = seconds_per(f);
  return {mb / best, mb / median};
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

// Our codec: bitstream version 3 (the interleaved rANS; coded with AVX2 where the CPU has it, and
// with the scalar encoder and decoder), and version 1 (the byte-wise rANS).
Result ours(const std::vector<int32_t>& symbols, double mb, uint8_t version, bool simd) {
  Stream s;
  s.shapes = {{1, 1, 1, static_cast<uint32_t>(symbols.size())}};
  s.symbols = {symbols};
  std::vector<uint8_t> bytes;
  const std::string name = version == 1 ? "featjnd v1 (byte-wise rANS)"
                           : simd       ? "featjnd v3 (32-way rANS, AVX2)"
                                        : "featjnd v3 (32-way rANS, scalar)";
  Result r{name, 0, {}, {}, false};
  r.enc = rate(mb, [&] { bytes = encode(s, nullptr, version, simd); });
  Stream d;
  r.dec = rate(mb, [&] { d = decode(bytes.data(), bytes.size(), uint64_t(1) << 28, simd); });
  r.bytes = bytes.size();
  r.exact = d.symbols == s.symbols;
  return r;
}

Result zstd(const std::vector<uint8_t>& in, double mb) {
  const int level = ZSTD_maxCLevel();
  std::vector<uint8_t> out(ZSTD_compressBound(in.size())), back(in.size());
  size_t n = 0;
  Result r{"zstd -" + std::to_string(level), 0, {}, {}, false};
  r.enc = rate(mb, [&] { n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), level); });
  size_t m = 0;
  r.dec = rate(mb, [&] { m = ZSTD_decompress(back.data(), back.size(), out.data(), n); });
  r.bytes = n;
  r.exact = m == in.size() && back == in;
  return r;
}

Result arith(std::vector<uint8_t> in, int order, double mb) {
  std::vector<uint8_t> out(arith_compress_bound(static_cast<unsigned>(in.size()), order)), back(in.size());
  unsigned n = 0;
  Result r{"htscodecs arith order " + std::to_string(order), 0, {}, {}, false};
  r.enc = rate(mb, [&] {
    n = static_cast<unsigned>(out.size());
    arith_compress_to(in.data(), static_cast<unsigned>(in.size()), out.data(), &n, order);
  });
  unsigned m = 0;
  r.dec = rate(mb, [&] {
    m = static_cast<unsigned>(back.size());
    arith_uncompress_to(out.data(), n, back.data(), &m);
  });
  r.bytes = n;
  r.exact = m == in.size() && back == in;
  return r;
}

// htscodecs' static rANS: 4 ways, or 32 (RANS_ORDER_X32, its SIMD decoders where the CPU has
// them), order 0 or 1 (a table per previous byte).
Result rans4x16(std::vector<uint8_t> in, int order, bool x32, double mb) {
  const int flags = order | (x32 ? RANS_ORDER_X32 : 0);
  std::vector<uint8_t> out(rans_compress_bound_4x16(static_cast<unsigned>(in.size()), flags)), back(in.size());
  unsigned n = 0;
  Result r{std::string("htscodecs rans") + (x32 ? "32x16" : "4x16") + " order " + std::to_string(order), 0, {}, {}, false};
  r.enc = rate(mb, [&] {
    n = static_cast<unsigned>(out.size());
    rans_compress_to_4x16(in.data(), static_cast<unsigned>(in.size()), out.data(), &n, flags);
  });
  unsigned m = 0;
  r.dec = rate(mb, [&] {
    m = static_cast<unsigned>(back.size());
    rans_uncompress_to_4x16(out.data(), n, back.data(), &m);
  });
  r.bytes = n;
  r.exact = m == in.size() && back == in;
  return r;
}

// CompressAI's coder through tools/bench/compressai_peer.py: the symbols and our table in files,
// its result as one line of JSON. nullopt (and a note) where it cannot run.
std::optional<Result> compressai(const std::vector<int32_t>& symbols, double mb) {
  namespace fs = std::filesystem;
  const char* env = std::getenv("FEATJND_PYTHON");
  const std::string python = env && *env ? env : FEATJND_DEFAULT_PYTHON;
  const auto dir = fs::temp_directory_path() / ("featjnd-bench-codec-" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "symbols.i32", std::ios::binary)
      .write(reinterpret_cast<const char*>(symbols.data()), std::streamsize(symbols.size() * sizeof(int32_t)));
  const Model m = table_for(symbols);
  std::ofstream(dir / "table.json") << nlohmann::json{{"lo", m.lo()}, {"freq", m.frequencies()}}.dump();
  const std::string cmd = "'" + python + "' '" FEATJND_SOURCE_TOOLS_DIR "/bench/compressai_peer.py' '" +
                          (dir / "symbols.i32").string() + "' '" + (dir / "table.json").string() + "' 2>&1";
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    pclose(p);
  }
  fs::remove_all(dir);
  nlohmann::json j = nlohmann::json::parse(out, nullptr, false);
  if (j.is_discarded() || j.contains("error")) {
    std::printf("  (CompressAI left out: %s)\n", j.is_discarded() ? out.c_str() : j["error"].get<std::string>().c_str());
    return std::nullopt;
  }
  Result r{j["coder"].get<std::string>() + " (Python lists)", j["bytes"].get<size_t>(), {}, {}, j["exact"].get<bool>()};
  r.enc = {mb / j["encode_s"][0].get<double>(), mb / j["encode_s"][1].get<double>()};
  r.dec = {mb / j["decode_s"][0].get<double>(), mb / j["decode_s"][1].get<double>()};
  std::printf("  (CompressAI: its times include turning the symbols into a Python list, %.1f ms alone)\n",
              1e3 * j["list_conversion_s"].get<double>());
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
  const double nh = entropy_bits(symbols) / 8;
  std::printf("\n%s: %zu symbols (as int%d: %.2f MB), entropy N·H = %.0f bytes (%.3f bits/symbol)\n", name.c_str(),
              symbols.size(), 8 * width, mb, nh, 8 * nh / double(symbols.size()));
  std::printf("  %-42s %10s %8s %21s %21s %6s\n", "coder", "bytes", "/ N·H", "encode MB/s best/med", "decode MB/s best/med",
              "exact");
  std::vector<Result> results = {ours(symbols, mb, 3, true), ours(symbols, mb, 3, false), ours(symbols, mb, 1, false),
                                 rans4x16(bytes, 0, false, mb), rans4x16(bytes, 1, false, mb), rans4x16(bytes, 0, true, mb),
                                 rans4x16(bytes, 1, true, mb), arith(bytes, 0, mb), arith(bytes, 1, mb), zstd(bytes, mb)};
  if (auto c = compressai(symbols, mb)) results.push_back(*c);
  for (auto& r : results)
    std::printf("  %-42s %10zu %8.4f %10.1f %10.1f %10.1f %10.1f %6s\n", r.coder.c_str(), r.bytes, double(r.bytes) / nh,
                r.enc.best, r.enc.median, r.dec.best, r.dec.median, r.exact ? "yes" : "NO");
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
