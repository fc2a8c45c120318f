#!/usr/bin/env bash
# Sets up everything the project needs on a fresh machine, once:
#   - espeak-ng (the speech synthesiser used to generate the test corpora), through apt-get;
#   - a virtual environment in .venv/ with the pinned requirements (requirements.txt), the test
#     tools (requirements-test.txt) and this package (editable).
# Re-running it is cheap: each step is skipped when already done.
#
# Options (environment variables; `make setup TORCH=cpu` passes them):
#   VENV=.venv     the virtual environment
#   TORCH=default  torch from PyPI (on Linux the CUDA build, with ~2.7 GB of nvidia-* libraries)
#   TORCH=cpu      torch and torchaudio from the PyTorch CPU index: no CUDA libraries. Choose it
#                  when the environment is created (a CUDA build already there stays: remove
#                  the environment first). The choice is kept in $VENV/.ser-recipes-torch, so
#                  later runs without TORCH (make test, make demo) keep it.
#   DRY_RUN=1      print the commands instead of running them
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
CHOICE="$VENV/.ser-recipes-torch"
TORCH=${TORCH:-$(cat "$CHOICE" 2>/dev/null || echo default)}
case "$TORCH" in
    default|cpu) ;;
    *) echo "[setup] unknown TORCH=$TORCH: use TORCH=default (PyPI's torch) or TORCH=cpu (CPU-only wheels of the PyTorch index)" >&2
       exit 2 ;;
esac

run() {  # runs a command, or prints it with DRY_RUN=1
    if [ -n "${DRY_RUN:-}" ]; then echo "+ $*"; else "$@"; fi
}
pinned() {  # the exact requirement of a distribution in requirements.txt, e.g. torch==2.11.0
    grep -E "^$1==" requirements.txt || { echo "[setup] requirements.txt pins no $1" >&2; exit 1; }
}

if ! command -v espeak-ng >/dev/null 2>&1; then
    echo "[setup] espeak-ng not found: installing it with apt-get (needs root or sudo)..."
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    run $SUDO apt-get update -qq
    run $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating the virtual environment $VENV/ ..."
    run python3 -m venv "$VENV"
fi

STAMP="$VENV/.ser-recipes-installed"
WANT=$( (cat requirements.txt requirements-test.txt setup.py; echo "TORCH=$TORCH") | sha256sum | cut -d' ' -f1)
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
    echo "[setup] installing the pinned requirements into $VENV/ (TORCH=$TORCH; torch alone takes a few minutes)..."
    if [ "$TORCH" = cpu ]; then
        run "$VENV/bin/pip" install --quiet --index-url "$TORCH_CPU_INDEX" "$(pinned torch)" "$(pinned torchaudio)"
    fi
    run "$VENV/bin/pip" install --quiet -r requirements.txt -r requirements-test.txt
    run "$VENV/bin/pip" install --quiet --no-deps -e .
    if [ "$TORCH" = cpu ] && [ -z "${DRY_RUN:-}" ] \
        && ! "$VENV/bin/python" -c "import sys, torch; sys.exit(torch.version.cuda is not None)"; then
        echo "[setup] TORCH=cpu, but $VENV/ already holds a CUDA build of torch (installed before)." \
             "Remove the environment (rm -rf $VENV) and run make setup TORCH=cpu again." >&2
        exit 1
    fi
    if [ -z "${DRY_RUN:-}" ]; then
        echo "$TORCH" > "$CHOICE"
        echo "$WANT" > "$STAMP"
    fi
fi
if [ -n "${DRY_RUN:-}" ]; then
    echo "[setup] dry run (TORCH=$TORCH): nothing was changed"
else
    echo "[setup] environment ready: $VENV/ (TORCH=$TORCH; espeak-ng $(espeak-ng --version | awk '{print $4}'))"
fi
