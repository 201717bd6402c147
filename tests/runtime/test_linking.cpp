// How the engine's programs link LibTorch. PyTorch's wheels export the std::filesystem functions
// of a statically linked libstdc++ (pytorch/pytorch#133437); called from here, libtorch.so's
// remove_all jumps to address 0. CMake names libstdc++ before LibTorch so that the dynamic
// linker binds those symbols to the system's library: checked by where the symbol resolves and
// by using it.
#include <doctest/doctest.h>

#include <dlfcn.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include <torch/torch.h>

namespace fs = std::filesystem;

TEST_CASE("std::filesystem resolves to libstdc++, not to LibTorch's exported copy") {
  // std::filesystem::remove_all(const path&), C++11 ABI.
  void* sym = dlsym(RTLD_DEFAULT, "_ZNSt10filesystem10remove_allERKNS_7__cxx114pathE");
  REQUIRE(sym != nullptr);
  Dl_info info{};
  REQUIRE(dladdr(sym, &info) != 0);
  CHECK_MESSAGE(std::string(info.dli_fname).find("libstdc++") != std::string::npos, "resolved in " << info.dli_fname);

  const auto root = fs::temp_directory_path() / ("featjnd-linking-" + std::to_string(getpid()));
  fs::create_directories(root / "a" / "b");
  std::ofstream(root / "a" / "b" / "file") << "x";
  CHECK(fs::remove_all(root) == 4);
  CHECK_FALSE(fs::exists(root));
  CHECK(torch::ones({2}).sum().item<float>() == 2.0f);  // LibTorch is linked and works beside it
}
