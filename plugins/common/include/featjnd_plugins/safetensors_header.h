#pragma once
// The safetensors header, read without LibTorch: what the tensor reader (safetensors.h) trusts
// only after every check here has passed, and what tests/fuzz feeds arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace featjnd::plugins {

struct SafeTensorsEntry {
  std::string dtype;  // the format's name: F32, BF16, I64, ...
  size_t element_size = 0;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // within the data section; end - begin = numel × element_size
};

struct SafeTensorsHeader {
  uint64_t data_start = 0;  // 8 + the header length
  std::map<std::string, SafeTensorsEntry> entries;
  std::map<std::string, std::string> metadata;  // __metadata__
};

// The element size of a dtype name, 0 for a name the format does not define.
size_t safetensors_element_size(std::string_view dtype);

// The header length in the first 8 bytes (little-endian), checked against the format's 100 MiB
// limit and the file size. `prefix` holds at least the first min(8, file size) bytes.
uint64_t safetensors_header_length(std::string_view prefix, uint64_t file_size, const std::string& name);

// Parses and checks the header of a file of `file_size` bytes whose first 8 + header length bytes
// are `head`: the text rules (starts with '{', space padding only, no NUL, nesting bounded), each
// entry's dtype, shape (no overflow in the byte count) and offsets, and that the entries cover the
// data section exactly. Every failure throws std::runtime_error naming `name` and the tensor.
SafeTensorsHeader parse_safetensors_header(std::string_view head, uint64_t file_size, const std::string& name);

}  // namespace featjnd::plugins
