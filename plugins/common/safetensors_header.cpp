#include "featjnd_plugins/safetensors_header.h"

#include <algorithm>
#include <cstdint>
#include <stdexcept>

#include <featjnd/json_limits.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace featjnd::plugins {
namespace {

constexpr uint64_t kMaxHeader = 100u << 20;  // the format's own limit

std::runtime_error invalid(const std::string& name, const std::string& what) {
  return std::runtime_error(fmt::format("'{}' is not a valid safetensors file: {}", name, what));
}

// The format's text rules: the header starts with '{' (no byte-order mark) and may be padded at
// the end with spaces only (a NUL would end the text early for some readers and not for others).
void check_text(std::string_view text, const std::string& name) {
  if (text.empty() || text.front() != '{')
    throw invalid(name, text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF"
                            ? "the header starts with a UTF-8 byte-order mark"
                            : "the header does not start with '{'");
  const auto last = text.find_last_not_of(' ');
  if (text[last] != '}')
    throw invalid(name, "the header is padded with something other than spaces after its closing '}'");
  if (text.find('\0') != std::string_view::npos) throw invalid(name, "the header contains a NUL byte");
  if (auto deep = json_depth_error(text); !deep.empty()) throw invalid(name, "the header has " + deep);
}

SafeTensorsEntry parse_entry(const nlohmann::json& e, const std::string& where, uint64_t data_len,
                             const std::string& name) {
  if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
    throw invalid(name, where + " lacks dtype, shape or data_offsets");
  if (!e["dtype"].is_string()) throw invalid(name, where + ": dtype is not a string");
  SafeTensorsEntry entry;
  entry.dtype = e["dtype"].get<std::string>();
  entry.element_size = safetensors_element_size(entry.dtype);
  if (!entry.element_size) throw invalid(name, fmt::format("{}: unknown dtype '{}'", where, entry.dtype));
  if (!e["shape"].is_array()) throw invalid(name, where + ": shape is not an array");
  uint64_t numel = 1;
  for (auto& d : e["shape"]) {
    if (!d.is_number_unsigned()) throw invalid(name, where + ": shape has a negative or non-integer size");
    const uint64_t dim = d.get<uint64_t>();
    // A header is never trusted: a size product that wraps would pass the offset check below.
    if (dim > static_cast<uint64_t>(INT64_MAX) || (dim != 0 && numel > UINT64_MAX / dim / entry.element_size))
      throw invalid(name, fmt::format("{}: shape {} overflows the element count", where, e["shape"].dump()));
    entry.shape.push_back(static_cast<int64_t>(dim));
    numel *= dim;
  }
  const auto& off = e["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
    throw invalid(name, where + ": data_offsets is not [begin, end]");
  entry.begin = off[0].get<uint64_t>();
  entry.end = off[1].get<uint64_t>();
  if (entry.begin > entry.end || entry.end > data_len)
    throw invalid(name, fmt::format("{}: data_offsets [{}, {}] outside the {} data bytes (file truncated?)",
                                    where, entry.begin, entry.end, data_len));
  if (entry.end - entry.begin != numel * entry.element_size)
    throw invalid(name, fmt::format("{}: {} bytes for {} elements of {}", where, entry.end - entry.begin,
                                    numel, entry.dtype));
  return entry;
}

}  // namespace

size_t safetensors_element_size(std::string_view dtype) {
  static const std::pair<std::string_view, size_t> kSizes[] = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
      {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1}};
  for (auto& [n, s] : kSizes)
    if (n == dtype) return s;
  return 0;
}

uint64_t safetensors_header_length(std::string_view prefix, uint64_t file_size, const std::string& name) {
  if (file_size < 8 || prefix.size() < 8)
    throw invalid(name, fmt::format("{} bytes, shorter than the 8-byte header length", file_size));
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(prefix[static_cast<size_t>(i)]);
  if (n > kMaxHeader) throw invalid(name, fmt::format("header length {} exceeds the 100 MiB limit", n));
  if (n > file_size - 8)
    throw invalid(name,
                  fmt::format("header length {} runs past the end of the file ({} bytes)", n, file_size));
  return n;
}

SafeTensorsHeader parse_safetensors_header(std::string_view head, uint64_t file_size,
                                           const std::string& name) {
  const uint64_t n = safetensors_header_length(head, file_size, name);
  if (head.size() < 8 + n) throw invalid(name, "the header could not be read");
  const std::string_view text = head.substr(8, static_cast<size_t>(n));
  check_text(text, name);
  auto json = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (json.is_discarded() || !json.is_object()) throw invalid(name, "the header is not a JSON object");
  SafeTensorsHeader header;
  header.data_start = 8 + n;
  const uint64_t data_len = file_size - header.data_start;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto it = json.begin(); it != json.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it.value().is_object()) throw invalid(name, "__metadata__ is not an object");
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (!m.value().is_string())
          throw invalid(name, fmt::format("__metadata__ value '{}' is not a string", m.key()));
        header.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    auto entry = parse_entry(it.value(), fmt::format("tensor '{}'", it.key()), data_len, name);
    ranges.push_back({entry.begin, entry.end});
    header.entries[it.key()] = std::move(entry);
  }
  // The data section must be covered exactly: no overlap, no hole, nothing trailing.
  std::sort(ranges.begin(), ranges.end());
  uint64_t pos = 0;
  for (auto& [b, e] : ranges) {
    if (b != pos) throw invalid(name, fmt::format("tensor data overlaps or leaves a hole at byte {}", pos));
    pos = e;
  }
  if (pos != data_len) throw invalid(name, fmt::format("{} bytes after the last tensor", data_len - pos));
  return header;
}

}  // namespace featjnd::plugins
