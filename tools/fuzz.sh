#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, Debian's clang-14 and libfuzzer-14-dev, ASan+UBSan)
# and runs each for SECONDS seconds (default 60) from its seed corpus. Exit status: a target's
# failure (a crash, a sanitizer report, a hang) fails the script; its reproducer is left in build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
CC=clang-14 CXX=clang++-14 cmake -S tests/fuzz -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-fuzz -j"$(nproc)"
mkdir -p build-fuzz/corpus/codec
build-fuzz/make_codec_seeds build-fuzz/corpus/codec
for target in fuzz_codec_decode; do
  echo "fuzzing $target for ${seconds} s"
  (cd build-fuzz && "./$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      corpus/codec 2>&1 | tail -12)
done
