#!/usr/bin/env bash
# Runs only the headless engine tests (tests/it/engine.rs and tests/it/demo.rs): every GDScript
# file loaded by the engine, the scenes in godot-project/tests/, the demo as a user meets
# it (its chat page in Chromium too), the editor's help and hot reload (tests/it/editor.rs),
# the class reference taken from the engine (tests/it/book.rs) and the engine under a low
# limit of open files (tests/it/limits.rs). The engine comes from tools/godot.sh ($GODOT,
# `godot` on PATH, or Debian's Godot 4 fetched on first use); the addon is rebuilt first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-clients.sh
export WS_PYTHON="${WS_PYTHON:-$PWD/.venv/bin/python}"
GODOT="$(bash tools/godot.sh)"
export GODOT
cargo test --test it -- engine:: demo:: editor:: book::every_member limits::out_of_file_descriptors "$@"
