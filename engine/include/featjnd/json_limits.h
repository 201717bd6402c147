#pragma once
// Bounds on untrusted JSON checked before it is parsed. nlohmann::json parses iteratively, but the
// value it builds is walked recursively afterwards (dump, comparison, our validators), so a file
// of 100,000 nested brackets would end in a stack overflow instead of an error line.
#include <cstddef>
#include <string>
#include <string_view>

namespace featjnd {

// Far above any spec, COCO file or safetensors header (they nest fewer than 10 levels).
inline constexpr size_t kMaxJsonDepth = 256;

struct JsonDepthProblem {
  size_t line = 0, column = 0;  // 1-based, of the bracket that went past the limit
};

// Empty result when no array or object nests deeper than max_depth; strings (with their escapes)
// are skipped, so brackets inside them do not count.
inline bool json_too_deep(std::string_view text, size_t max_depth, JsonDepthProblem* where = nullptr) {
  size_t depth = 0, line = 1, column = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    ++column;
    if (c == '\n') {
      ++line;
      column = 0;
    }
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        if (where) *where = {line, column};
        return true;
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

// "nesting deeper than 256 levels at line 1 column 257" or empty.
inline std::string json_depth_error(std::string_view text, size_t max_depth = kMaxJsonDepth) {
  JsonDepthProblem p;
  if (!json_too_deep(text, max_depth, &p)) return {};
  return "arrays or objects nested deeper than " + std::to_string(max_depth) + " levels at line " +
         std::to_string(p.line) + " column " + std::to_string(p.column) + "; expected at most " +
         std::to_string(max_depth);
}

}  // namespace featjnd
