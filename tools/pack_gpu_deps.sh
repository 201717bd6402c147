#!/usr/bin/env bash
# Writes build-gpu-deps/usr: the C++ dependencies of featjnd-engine that a bare GPU machine (one
# with CUDA, torch, CMake and a compiler, but no Boost, nlohmann/json, doctest, SQLite, libjpeg-turbo,
# zstd or htscodecs headers) lacks, taken from this Debian machine in Debian's own layout: the
# headers the build actually includes (read from the main build's dependency log), the shared
# libraries with their symbolic links and the libraries they need, and the CMake and pkg-config
# files (their paths are relative, so the folder works wherever it lands). A few MB: it travels with
# the repository to the device machine (run's carry), where tools/gpu_check.sh uses it.
#
#   tools/pack_gpu_deps.sh            (after the main build in build/)
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -f build/build.ninja ]] || { echo "pack_gpu_deps: build/ has no Ninja build; run cmake --build build first" >&2; exit 1; }
out=$PWD/build-gpu-deps/usr
arch=x86_64-linux-gnu
rm -rf build-gpu-deps
mkdir -p "$out/include" "$out/lib/$arch/pkgconfig" "$out/share/cmake" "$out/lib/cmake"

# Headers: every file the build read below /usr/include except the C and C++ libraries' own.
ninja -C build -t deps | sed -n 's|^ *\(/usr/include/.*\)$|\1|p' | sort -u |
  grep -Ev '^/usr/include/(c\+\+|x86_64-linux-gnu|linux|asm|asm-generic|bits|sys)/' |
  grep -Ev '^/usr/include/[a-z_0-9-]+\.h$' >build-gpu-deps/headers.txt
for h in sqlite3.h sqlite3ext.h turbojpeg.h zstd.h zdict.h zstd_errors.h zlib.h zconf.h; do
  echo "/usr/include/$h" >>build-gpu-deps/headers.txt
done
(cd /usr/include && sed 's|^/usr/include/||' "$OLDPWD/build-gpu-deps/headers.txt" | xargs cp --parents -t "$out/include")
# Whole folders where another compiler may take another path through the headers.
cp -r /usr/include/doctest /usr/include/nlohmann /usr/include/htscodecs "$out/include/"
cp -r /usr/include/boost/config /usr/include/boost/dll /usr/include/boost/predef "$out/include/boost/"

# Libraries (the .so link, the versioned file) and the non-system libraries they need.
for l in boost_filesystem boost_program_options boost_system sqlite3 turbojpeg zstd htscodecs z bz2; do
  cp -a /usr/lib/$arch/lib$l.so* "$out/lib/$arch/"
done

# CMake packages and pkg-config files.
mkdir -p "$out/lib/$arch/cmake"
cp -r /usr/lib/$arch/cmake/Boost-1.74.0 /usr/lib/$arch/cmake/BoostDetectToolset-1.74.0.cmake \
      /usr/lib/$arch/cmake/boost_{headers,filesystem,program_options,system}-1.74.0 "$out/lib/$arch/cmake/"
cp -r /usr/share/cmake/nlohmann_json "$out/share/cmake/"
cp -r /usr/lib/cmake/doctest "$out/lib/cmake/"
# pkg-config files with their folders relative to where they lie (Debian's libzstd.pc says lib/).
for pc in libturbojpeg libzstd sqlite3 zlib; do
  sed -e 's|^prefix=.*|prefix=${pcfiledir}/../../..|' -e 's|^exec_prefix=.*|exec_prefix=${prefix}|' \
      -e "s|^libdir=.*|libdir=\${prefix}/lib/$arch|" -e 's|^includedir=.*|includedir=${prefix}/include|' \
      "/usr/lib/$arch/pkgconfig/$pc.pc" >"$out/lib/$arch/pkgconfig/$pc.pc"
done
echo "build-gpu-deps: $(du -sh build-gpu-deps | cut -f1), $(find build-gpu-deps -type f | wc -l) files"
