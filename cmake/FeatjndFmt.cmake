# One fmt for the whole build, as the target featjnd_fmt.
#
# LibTorch's wheels and archives ship fmt's headers in <prefix>/include/fmt, and every translation
# unit that includes LibTorch searches that folder before /usr/include: there, <fmt/format.h> is
# LibTorch's fmt whatever else is installed. Two fmts in one program would give the engine's inline
# functions two definitions, so when LibTorch ships fmt, every target uses it, header-only, through
# a folder that holds nothing else (the front end stays free of LibTorch's other headers).
# Otherwise (a LibTorch without fmt, such as Debian's) the system's libfmt is used everywhere.
add_library(featjnd_fmt INTERFACE)
if(EXISTS ${TORCH_INSTALL_PREFIX}/include/fmt/format.h)
  set(_fmt_dir ${CMAKE_BINARY_DIR}/generated/fmt-include)
  file(MAKE_DIRECTORY ${_fmt_dir})
  file(CREATE_LINK ${TORCH_INSTALL_PREFIX}/include/fmt ${_fmt_dir}/fmt SYMBOLIC)
  target_include_directories(featjnd_fmt SYSTEM INTERFACE $<BUILD_INTERFACE:${_fmt_dir}>)
  target_compile_definitions(featjnd_fmt INTERFACE FMT_HEADER_ONLY=1)
  set(FEATJND_FMT_ORIGIN "LibTorch's (header-only)")
else()
  find_package(fmt REQUIRED)
  target_link_libraries(featjnd_fmt INTERFACE fmt::fmt)
  set(FEATJND_FMT_ORIGIN "the system's")
endif()
