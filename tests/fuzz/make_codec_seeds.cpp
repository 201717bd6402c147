// Writes a few valid feature bitstreams (every method, several shapes, every version; version 3
// also with 2 × 2 blocks at stride 2) as the fuzzer's seed corpus; the larger shapes give versions
// 2 and 3 their 8- and 32-way streams, which the AVX2 decoder takes.
#include <cstdio>
#include <fstream>
#include <random>
#include <string>

#include "codec/bitstream.h"

using namespace featjnd::codec;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_codec_seeds DIR\n");
    return 2;
  }
  std::mt19937 gen(1);
  int k = 0;
  for (auto m : {Method::guided, Method::random, Method::uniform, Method::minmax})
    for (auto shapes : std::vector<std::vector<LevelShape>>{
             {{1, 2, 3, 3}}, {{2, 4, 4, 4}, {2, 4, 2, 2}}, {{1, 1, 1, 1}}, {{1, 8, 16, 16}}, {{1, 16, 32, 32}}}) {
      Stream s;
      s.method = m;
      s.shapes = shapes;
      s.step = 0.5f;
      for (auto& sh : shapes) {
        std::vector<int32_t> v(sh.elements()), q(sh.tokens());
        for (auto& x : v) x = static_cast<int32_t>(gen() % 9) - 4;
        for (auto& x : q) x = static_cast<int32_t>(gen() % 5) - 2;
        s.symbols.push_back(v);
        if (m == Method::guided || m == Method::random) s.log_steps.push_back(q);
      }
      auto write = [&](const std::vector<uint8_t>& bytes) {
        std::ofstream(std::string(argv[1]) + "/seed" + std::to_string(k++), std::ios::binary)
            .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
      };
      for (uint8_t version : {1, 2, 3}) write(encode(s, nullptr, version));
      if (m != Method::guided && m != Method::random) continue;
      s.step_block = 2, s.step_stride = 2;
      for (size_t l = 0; l < shapes.size(); ++l) {
        s.log_steps[l].resize(shapes[l].blocks(2));
        for (auto& x : s.log_steps[l]) x = 2 * (static_cast<int32_t>(gen() % 5) - 2);
      }
      write(encode(s));
    }
  return 0;
}
