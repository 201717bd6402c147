#!/usr/bin/env bash
# Installs everything featjnd-engine needs to build and test on Debian bookworm (run as root):
# Debian's packages for the C++ side, and a project-local Python environment, .venv/, holding the
# pinned torch (the LibTorch the engine builds against, CUDA 13.0 wheel), torchvision, timm and
# the reference libraries of the tests (tools/python/requirements.txt, every transitive version in
# tools/python/constraints.txt). Idempotent: a second run installs nothing and takes seconds.
#
#   FEATJND_VENV     where the environment goes (default: <repository>/.venv)
#   FEATJND_PYTHON3  the interpreter that creates it (default: python3 on PATH)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export DEBIAN_FRONTEND=noninteractive
pkgs=(
  build-essential cmake ninja-build git pkg-config
  libboost-dev libboost-filesystem-dev libboost-program-options-dev
  nlohmann-json3-dev libsqlite3-dev sqlite3 libfmt-dev doctest-dev
  zlib1g-dev libturbojpeg0-dev
  dataset-fashion-mnist
  python3 python3-venv
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

# The Python environment. A stamp holds the hash of the two requirement files: when they are
# unchanged and torch imports, nothing is done.
venv=${FEATJND_VENV:-$root/.venv}
req=$root/tools/python/requirements.txt
con=$root/tools/python/constraints.txt
want=$(cat "$req" "$con" | sha256sum | cut -c1-64)
stamp=$venv/.featjnd-requirements
if [[ -f $stamp && $(cat "$stamp") == "$want" ]] && "$venv/bin/python" -c "import torch" 2>/dev/null; then
  exit 0
fi
[[ -x $venv/bin/python ]] || "${FEATJND_PYTHON3:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req" -c "$con"
echo "$want" >"$stamp"
"$venv/bin/python" -c "import torch; print('featjnd: torch', torch.__version__, 'in', '$venv')"
