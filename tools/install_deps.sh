#!/usr/bin/env bash
# Installs everything featjnd-engine needs to build and test on Debian bookworm (run as root).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(
  build-essential cmake ninja-build git pkg-config
  libtorch-dev libopenblas0-pthread
  libboost-dev libboost-filesystem-dev libboost-program-options-dev
  nlohmann-json3-dev libsqlite3-dev sqlite3 libfmt-dev doctest-dev
  zlib1g-dev libturbojpeg0-dev
  dataset-fashion-mnist
  python3 python3-numpy python3-matplotlib python3-pil python3-torch python3-torchvision
  texlive-latex-base chromium
  libzstd-dev libhtscodecs-dev clang-14 libfuzzer-14-dev libclang-rt-14-dev
  slurm-wlm munge
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
