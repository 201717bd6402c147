// libFuzzer target: the spec parser (depth bound, JSON, --set overrides, validation, grid count)
// on arbitrary text, with no plugins loaded. Anything malformed must end in a UserError (one
// line); a crash, a sanitizer report or a hang is a bug.
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>
#include <unistd.h>

#include "core/errors.h"
#include "plugin_host/plugin_registry.h"
#include "spec/plan.h"
#include "spec/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const featjnd::PluginRegistry plugins;
  static const std::string path = "/tmp/featjnd-fuzz-spec-" + std::to_string(getpid()) + ".json";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    auto spec = featjnd::load_spec(path, plugins, {"name=fuzzed", "/seed=3"});
    featjnd::FileHasher hasher;
    featjnd::expand(spec, plugins, hasher, 10000);
  } catch (const featjnd::UserError&) {
  }
  return 0;
}
