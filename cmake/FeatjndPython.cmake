# The project's Python environment, which tools/install_deps.sh creates in <source>/.venv (or
# FEATJND_VENV): its torch is the default LibTorch, and its interpreter runs the Python tools
# (figures, weight export, the tests' reference libraries).
#
#   FEATJND_PYTHON  cache variable: the interpreter the tests use and the one `figures` and
#                   `report --html` run when neither --python nor $FEATJND_PYTHON says otherwise.
#                   Default: the environment's python, else python3 on PATH.
#
# The environment's torch.utils.cmake_prefix_path and the torch package's root are appended to
# CMAKE_PREFIX_PATH: a LibTorch the user names (CMAKE_PREFIX_PATH, Torch_DIR) is searched first and wins.
if(DEFINED ENV{FEATJND_VENV})
  set(_featjnd_venv $ENV{FEATJND_VENV})
else()
  set(_featjnd_venv ${CMAKE_SOURCE_DIR}/.venv)
endif()
if(EXISTS ${_featjnd_venv}/bin/python)
  set(_featjnd_default_python ${_featjnd_venv}/bin/python)
else()
  find_program(_featjnd_default_python NAMES python3)
endif()
set(FEATJND_PYTHON ${_featjnd_default_python} CACHE FILEPATH "Python interpreter of the tools and tests")

if(NOT Torch_DIR AND FEATJND_PYTHON)
  execute_process(COMMAND ${FEATJND_PYTHON} -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
                  OUTPUT_VARIABLE _featjnd_torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE _featjnd_torch_rc ERROR_QUIET)
  if(_featjnd_torch_rc EQUAL 0 AND EXISTS ${_featjnd_torch_prefix})
    # The package's root as well (share/cmake/../..): TorchConfig.cmake finds libtorch.so and
    # libc10.so with find_library, which searches the system's folders before the PATHS it names,
    # so where a distribution's LibTorch is installed too (Debian's 1.13) it would pick that one.
    # A CMAKE_PREFIX_PATH entry is searched before the system's folders.
    get_filename_component(_featjnd_torch_root "${_featjnd_torch_prefix}/../.." ABSOLUTE)
    list(APPEND CMAKE_PREFIX_PATH ${_featjnd_torch_prefix} ${_featjnd_torch_root})
  endif()
endif()
# A LibTorch named by Torch_DIR alone (<root>/share/cmake/Torch): its root first, for the same reason.
if(Torch_DIR)
  get_filename_component(_featjnd_named_torch_root "${Torch_DIR}/../../.." ABSOLUTE)
  list(PREPEND CMAKE_PREFIX_PATH ${_featjnd_named_torch_root})
endif()
