#!/bin/sh
# Installs Headwater as a package (not editable), with the built-in player's scripts inside it,
# into the Python environment of PYTHON (first argument; default python3). docker/Dockerfile
# runs exactly this; tests/docker/test_install_package.py runs it into a fresh venv and plays
# the installed player's scripts over HTTP.
#
# 1. hls.js and dash.js from npm (player/package-lock.json) into server/delivery/static/vendor/,
#    unless already there for this lock file (as `make player` does). They must be in place
#    before the package is built: the package data is what the wheel carries, and a package
#    installed before npm ran serves the player without them (issue 23).
# 2. A wheel built from a clean copy of the package's sources (no build/ or egg-info left in
#    the checkout), checked for the scripts.
# 3. The wheel installed with its dependencies.
set -eu
PYTHON="${1:-python3}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENDOR="$ROOT/server/delivery/static/vendor"
STAMP="$VENDOR/.installed"
SCRIPTS="hls.min.js dash.all.min.js"

if [ ! -f "$STAMP" ] || [ "$ROOT/player/package-lock.json" -nt "$STAMP" ]; then
    npm --prefix "$ROOT/player" ci --no-audit --no-fund
    touch "$STAMP"
fi
for script in $SCRIPTS; do
    [ -s "$VENDOR/$script" ] || { echo "install-package: $VENDOR/$script is missing" >&2; exit 1; }
done

BUILD="$(mktemp -d)"
trap 'rm -rf "$BUILD"' EXIT
mkdir "$BUILD/src"
(cd "$ROOT" && tar --exclude=__pycache__ --exclude='*.pyc' -cf - pyproject.toml README.md \
    server ingest transcode packager migrations) | tar -xf - -C "$BUILD/src"
"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$BUILD/dist" "$BUILD/src"
WHEEL="$(ls "$BUILD"/dist/headwater-*.whl)"
for script in $SCRIPTS; do
    "$PYTHON" -m zipfile -l "$WHEEL" | grep "server/delivery/static/vendor/$script" >/dev/null \
        || { echo "install-package: $script is not in $WHEEL" >&2; exit 1; }
done
"$PYTHON" -m pip install --quiet "$WHEEL"
echo "install-package: installed $(basename "$WHEEL") into $("$PYTHON" -c 'import sys; print(sys.prefix)')"
