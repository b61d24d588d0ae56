#!/bin/sh
# Make a Python venv with the example apps' pinned requirements.
#
#   examples/python/setup-venv.sh [DIR]     (default: examples/python/.venv)
#
# Idempotent: an existing venv in DIR is reused, and pip installs only what
# is missing or at another version. Then: . DIR/bin/activate
set -eu

here=$(cd "$(dirname "$0")" && pwd)
venv=${1:-$here/.venv}

if ! command -v python3 >/dev/null 2>&1; then
    echo "setup-venv.sh: python3 is not installed; install Python 3.9 or later (Debian/Ubuntu: apt-get install python3 python3-venv)" >&2
    exit 1
fi
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    echo "setup-venv.sh: python3 cannot make a venv (the venv/ensurepip modules are missing); on Debian/Ubuntu: apt-get install python3-venv" >&2
    exit 1
fi

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    # Also repairs a venv whose first creation was interrupted.
    python3 -m venv --clear "$venv"
fi
"$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r "$here/requirements.txt"
echo "venv ready: . $venv/bin/activate, then run uvicorn from $here"
