#pragma once
#include <string>

namespace featjnd {
extern const char* const kGitCommit;  // generated at build time
extern const bool kGitDirty;
std::string version_line();  // "featjnd-engine 0.1.0 (git abc123, LibTorch 1.13.0, plugin API 1)"
}  // namespace featjnd
