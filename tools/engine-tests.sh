#!/usr/bin/env bash
# Runs every headless engine test (godot-project/tests/test_*.gd, the fresh-project
# check) with the Godot 4 binary from $GODOT or PATH. Builds the addon first; each
# run writes the project's .godot/extension_list.cfg itself.
set -euo pipefail
cd "$(dirname "$0")/.."
GODOT="$(bash tools/godot.sh)"
export GODOT
bash tools/setup-clients.sh
export WS_PYTHON="${WS_PYTHON:-$PWD/.venv/bin/python}"
bash tools/build-addon.sh
cargo test --test engine -- --ignored --test-threads=1 "$@"
