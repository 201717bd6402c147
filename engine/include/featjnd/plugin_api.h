// The plain-C handshake between featjnd-engine and a plugin shared object.
//
// Why C: the host must be able to read a plugin's identity and the versions it was built
// against *before* any C++ object (std::string, torch::Tensor, a vtable) crosses the boundary.
// A plugin built against another LibTorch or another plugin API would otherwise crash on first
// use instead of being refused with a readable message (LLVM pass plugins, DuckDB extensions).
//
// Growth rule: fields are only ever appended; `info_size` tells the host how many a plugin has.
#ifndef FEATJND_PLUGIN_API_H
#define FEATJND_PLUGIN_API_H

#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
#include <cstddef> /* defines _GLIBCXX_USE_CXX11_ABI (libstdc++) or _LIBCPP_VERSION */
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Bump on any change to featjnd_plugin_info or to the C++ interfaces in components.h. */
#define FEATJND_PLUGIN_API_VERSION 5u

/* The C++ standard library ABI a plugin was built with: std::string and std::list change layout
   with libstdc++'s _GLIBCXX_USE_CXX11_ABI (pip wheels of LibTorch were long built with 0, Debian's
   with 1), and a plugin on the other side would crash on the first string it is handed. */
#if defined(_GLIBCXX_USE_CXX11_ABI) && _GLIBCXX_USE_CXX11_ABI
#define FEATJND_CXX_ABI "libstdc++ cxx11"
#elif defined(_GLIBCXX_USE_CXX11_ABI)
#define FEATJND_CXX_ABI "libstdc++ pre-cxx11"
#elif defined(_LIBCPP_VERSION)
#define FEATJND_CXX_ABI "libc++"
#else
#define FEATJND_CXX_ABI "unknown"
#endif

/* The single symbol every plugin exports. */
#define FEATJND_PLUGIN_ENTRY_SYMBOL "featjnd_plugin_entry"

/* Stages in which a parameter changes the result; the scheduler hashes a parameter into a run's
   identity only for the stages it affects (alpha changes an evaluation, not the training). */
#define FEATJND_STAGE_PREPARE 1u
#define FEATJND_STAGE_FIT 2u
#define FEATJND_STAGE_EVALUATE 4u
#define FEATJND_STAGE_ALL 7u

typedef struct featjnd_param_info {
  const char* name;
  /* "float", "int", "bool", "string", "path" (a file whose content is hashed into the run's
     identity), "json" (any value) */
  const char* type;
  const char* default_json; /* JSON text of the default; NULL = required */
  const char* doc;
  double min; /* inclusive range for float/int; use -HUGE_VAL/HUGE_VAL for none */
  double max;
  const char* choices; /* for string: "a|b|c"; NULL = any */
  uint32_t stages;     /* FEATJND_STAGE_* mask */
} featjnd_param_info;

typedef struct featjnd_plugin_info {
  uint32_t info_size; /* sizeof(featjnd_plugin_info) as the plugin saw it */
  uint32_t api_version;
  const char* engine_version; /* featjnd-engine version whose headers the plugin was built with */
  const char* torch_version;  /* TORCH_VERSION the plugin was built with */
  const char* kind;           /* "backbone", "task" or "distortion" */
  const char* name;
  const char* version;
  const char* description; /* one line */
  uint32_t param_count;
  const featjnd_param_info* params;
  /* Called only after the host accepted api_version and torch_version. `params_json` is a JSON
     object holding every declared parameter (defaults filled in). Returns a featjnd::Component*
     owned by the caller, or NULL with a message in error_buf. */
  void* (*create)(const char* params_json, char* error_buf, size_t error_buf_size);
  /* API 4: FEATJND_CXX_ABI as the plugin was compiled; the host refuses another. */
  const char* cxx_abi;
} featjnd_plugin_info;

typedef const featjnd_plugin_info* (*featjnd_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif
