// The bounds-checked readers of the plugins: safetensors and IDX, on good and damaged files.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <torch/torch.h>
#include <zlib.h>

#include "featjnd_plugins/idx.h"
#include "featjnd_plugins/safetensors.h"

namespace fs = std::filesystem;
using namespace featjnd::plugins;

namespace {

std::vector<char> slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("featjnd-readers-" + std::to_string(getpid()) + "-" + name)).string();
}

std::vector<char> with_header(const std::string& json, size_t data_bytes) {
  std::string b;
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  b += json;
  b.append(data_bytes, '\0');
  return std::vector<char>(b.begin(), b.end());
}

}  // namespace

TEST_CASE("safetensors: a written file reads back bit for bit") {
  auto path = temp_path("ok.safetensors");
  std::map<std::string, torch::Tensor> t = {{"a.weight", torch::randn({3, 4})},
                                            {"b.num_batches_tracked", torch::tensor(7, torch::kLong)},
                                            {"c", torch::arange(5, torch::kInt32)}};
  write_safetensors(path, t);
  auto st = SafeTensors::read(path);
  CHECK(st.keys().size() == 3);
  for (auto& [k, v] : t) CHECK(torch::equal(st.get(k), v));
  fs::remove(path);
}

TEST_CASE("safetensors: damaged files are refused with the reason") {
  auto path = temp_path("bad.safetensors");
  write_safetensors(path, {{"w", torch::ones({4, 4})}});
  auto good = slurp(path);
  fs::remove(path);

  SUBCASE("truncated data") {
    auto b = good;
    b.resize(b.size() - 4);
    CHECK_THROWS_WITH(SafeTensors::parse(b, "f"), doctest::Contains("outside the 60 data bytes"));
  }
  SUBCASE("shorter than the length field") {
    CHECK_THROWS_WITH(SafeTensors::parse(std::vector<char>(5, 0), "f"), doctest::Contains("shorter than the 8-byte"));
  }
  SUBCASE("header length past the end") {
    auto b = good;
    b[0] = static_cast<char>(0xff);
    b[1] = static_cast<char>(0xff);
    CHECK_THROWS_WITH(SafeTensors::parse(b, "f"), doctest::Contains("runs past the end"));
  }
  SUBCASE("oversized header length") {
    auto b = good;
    b[7] = 1;
    CHECK_THROWS_WITH(SafeTensors::parse(b, "f"), doctest::Contains("exceeds the 100 MiB limit"));
  }
  SUBCASE("trailing bytes") {
    auto b = good;
    b.push_back(0);
    CHECK_THROWS_WITH(SafeTensors::parse(b, "f"), doctest::Contains("1 bytes after the last tensor"));
  }
  SUBCASE("corrupted header") {
    auto b = good;
    b[8] = '#';  // the opening brace
    CHECK_THROWS_WITH(SafeTensors::parse(b, "f"), doctest::Contains("does not start with '{'"));
  }
  // The format allows trailing spaces only; these were all read before.
  const std::string one = R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})";
  SUBCASE("space padding is allowed") { CHECK(SafeTensors::parse(with_header(one + "    ", 1), "f").has("a")); }
  SUBCASE("NUL padding") {
    CHECK_THROWS_WITH(SafeTensors::parse(with_header(one + std::string(3, '\0'), 1), "f"),
                      doctest::Contains("padded with something other than spaces"));
  }
  SUBCASE("a NUL inside the header") {
    auto text = one;
    text[2] = '\0';
    CHECK_THROWS_WITH(SafeTensors::parse(with_header(text, 1), "f"), doctest::Contains("contains a NUL byte"));
  }
  SUBCASE("a UTF-8 byte-order mark") {
    CHECK_THROWS_WITH(SafeTensors::parse(with_header("\xEF\xBB\xBF" + one, 1), "f"), doctest::Contains("byte-order mark"));
  }
  SUBCASE("a non-string __metadata__ value") {
    auto b = with_header(R"({"__metadata__":{"format":3},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 1);
    CHECK_THROWS_WITH(SafeTensors::parse(b, "f"), doctest::Contains("__metadata__ value 'format' is not a string"));
  }
  SUBCASE("nesting past the limit") {
    auto b = with_header(R"({"__metadata__":)" + std::string(300, '[') + std::string(300, ']') + "}", 0);
    CHECK_THROWS_WITH(SafeTensors::parse(b, "f"), doctest::Contains("nested deeper than 256 levels"));
  }
  SUBCASE("an element count that wraps") {
    // 2^32 · 2^32 elements wrap to 0 in 64 bits, which would match empty offsets.
    auto b = with_header(R"({"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0);
    CHECK_THROWS_WITH(SafeTensors::parse(b, "f"), doctest::Contains("overflows the element count"));
  }
  SUBCASE("size does not match the shape") {
    auto b = with_header(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})", 12);
    CHECK_THROWS_WITH(SafeTensors::parse(b, "f"), doctest::Contains("tensor 'w': 12 bytes for 4 elements of F32"));
  }
  SUBCASE("overlapping tensors") {
    auto b = with_header(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})", 6);
    CHECK_THROWS_WITH(SafeTensors::parse(b, "f"), doctest::Contains("overlaps or leaves a hole"));
  }
  SUBCASE("unknown dtype") {
    auto b = with_header(R"({"a":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}})", 1);
    CHECK_THROWS_WITH(SafeTensors::parse(b, "f"), doctest::Contains("unknown dtype 'F8'"));
  }
  SUBCASE("negative size") {
    auto b = with_header(R"({"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}})", 0);
    CHECK_THROWS_WITH(SafeTensors::parse(b, "f"), doctest::Contains("negative or non-integer"));
  }
}

TEST_CASE("load_state_dict names the key that does not fit") {
  torch::nn::Linear fc(3, 2);
  auto path = temp_path("fc.safetensors");
  write_safetensors(path, {{"fc.weight", torch::ones({2, 3})}, {"fc.bias", torch::zeros({2})}});
  auto st = SafeTensors::read(path);
  auto r = load_state_dict(*fc, st, "fc.", true);
  CHECK(r.loaded == 2);
  CHECK(torch::equal(fc->weight, torch::ones({2, 3})));

  write_safetensors(path, {{"fc.weight", torch::ones({3, 3})}, {"fc.bias", torch::zeros({2})}});
  CHECK_THROWS_WITH(load_state_dict(*fc, SafeTensors::read(path), "fc.", true),
                    doctest::Contains("'fc.weight' has shape 3x3 in the file, 2x3 in the model"));
  write_safetensors(path, {{"fc.weight", torch::ones({2, 3})}, {"fc.extra", torch::zeros({2})}});
  CHECK_THROWS_WITH(load_state_dict(*fc, SafeTensors::read(path), "fc.", true), doctest::Contains("missing key 'fc.bias'"));
  auto lenient = load_state_dict(*fc, SafeTensors::read(path), "fc.", false);
  CHECK(lenient.missing == std::vector<std::string>{"fc.bias"});
  CHECK(lenient.unexpected == std::vector<std::string>{"fc.extra"});
  fs::remove(path);
}

TEST_CASE("IDX: the Fashion-MNIST files of the Debian package read with the expected shapes") {
  const std::string root = "/usr/share/datasets/fashion-mnist/";
  auto labels = read_idx(root + "t10k-labels-idx1-ubyte.gz", 1);
  auto images = read_idx(root + "t10k-images-idx3-ubyte.gz", 3);
  CHECK(labels.sizes() == torch::IntArrayRef({10000}));
  CHECK(images.sizes() == torch::IntArrayRef({10000, 28, 28}));
  CHECK(labels.max().item<int>() == 9);
  // Balanced test set: 1000 per class.
  CHECK(torch::bincount(labels.to(torch::kLong)).eq(1000).all().item<bool>());
}

TEST_CASE("IDX: damaged files are refused with the reason") {
  std::vector<unsigned char> ok = {0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9};
  CHECK(parse_idx(ok, 1, "f").sizes() == torch::IntArrayRef({3}));
  auto truncated = ok;
  truncated.pop_back();
  CHECK_THROWS_WITH(parse_idx(truncated, 1, "f"), doctest::Contains("truncated: 2 data bytes, the header announces 3"));
  auto oversized = ok;
  oversized.push_back(1);
  CHECK_THROWS_WITH(parse_idx(oversized, 1, "f"), doctest::Contains("1 bytes after the announced 3"));
  auto bad_type = ok;
  bad_type[2] = 0x0d;
  CHECK_THROWS_WITH(parse_idx(bad_type, 1, "f"), doctest::Contains("element type 0x0d"));
  auto bad_magic = ok;
  bad_magic[0] = 1;
  CHECK_THROWS_WITH(parse_idx(bad_magic, 1, "f"), doctest::Contains("magic number"));
  CHECK_THROWS_WITH(parse_idx(ok, 3, "f"), doctest::Contains("1 dimensions; expected 3"));
  // Three sizes of 2^32 - 1: the 64-bit product wraps; the header is refused before any allocation.
  std::vector<unsigned char> wraps = {0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1};
  CHECK_THROWS_WITH(parse_idx(wraps, 3, "f"), doctest::Contains("overflow the element count at dimension 2"));

  // A gzip stream cut short, and one with a flipped byte.
  auto path = temp_path("cut.gz");
  auto full = slurp("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz");
  {
    std::ofstream out(path, std::ios::binary);
    out.write(full.data(), static_cast<std::streamsize>(full.size() / 2));
  }
  CHECK_THROWS(read_idx(path, 1));
  auto flipped = full;
  flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x5a);
  {
    std::ofstream out(path, std::ios::binary);
    out.write(flipped.data(), static_cast<std::streamsize>(flipped.size()));
  }
  CHECK_THROWS(read_idx(path, 1));
  fs::remove(path);
  CHECK_THROWS_WITH(read_idx(temp_path("missing"), 1), doctest::Contains("cannot open IDX file"));
}
