#!/usr/bin/env bash
# Sets up everything the project needs on a fresh machine, once:
#   - espeak-ng (the speech synthesiser used to generate the test corpora), through apt-get;
#   - a virtual environment in .venv/ with the pinned requirements and this package (editable).
# Re-running it is cheap: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}

if ! command -v espeak-ng >/dev/null 2>&1; then
    echo "[setup] espeak-ng not found: installing it with apt-get (needs root or sudo)..."
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq espeak-ng >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating the virtual environment $VENV/ ..."
    python3 -m venv "$VENV"
fi

STAMP="$VENV/.ser-recipes-installed"
WANT=$(cat requirements.txt setup.py | sha256sum | cut -d' ' -f1)
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
    echo "[setup] installing the pinned requirements into $VENV/ (torch alone takes a few minutes)..."
    "$VENV/bin/pip" install --quiet -r requirements.txt
    "$VENV/bin/pip" install --quiet --no-deps -e .
    echo "$WANT" > "$STAMP"
fi
echo "[setup] environment ready: $VENV/ (espeak-ng $(espeak-ng --version | awk '{print $4}'))"
