#!/usr/bin/env bash
# The project's tests: Rust unit and integration tests with real clients, the Autobahn
# conformance run, and (with GODOT set) the headless engine tests.
#   SKIP_AUTOBAHN=1  skips the Autobahn run (about 4 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-clients.sh
export WS_PYTHON="$PWD/.venv/bin/python"

cargo test

if [ -n "${GODOT:-}" ]; then
  bash tools/build-addon.sh
  cargo test --test engine -- --ignored --test-threads=1
else
  echo "engine tests: skipped (ignored above); set GODOT=/path/to/godot to run them"
fi

if [ -z "${SKIP_AUTOBAHN:-}" ]; then
  bash tools/autobahn.sh
fi
