#!/usr/bin/env bash
# Runs only the headless engine tests (tests/it/engine.rs and tests/it/demo.rs): every GDScript
# file loaded by the engine, the scenes in godot-project/tests/, the demo as a user meets
# it, the editor's help and hot reload (tests/it/editor.rs). The engine comes from tools/godot.sh ($GODOT,
# `godot` on PATH, or Debian's Godot 4 fetched on first use); the addon is rebuilt first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-clients.sh
export WS_PYTHON="${WS_PYTHON:-$PWD/.venv/bin/python}"
GODOT="$(bash tools/godot.sh)"
export GODOT
cargo test --test it -- engine:: demo:: editor:: "$@"
