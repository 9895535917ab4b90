#!/usr/bin/env bash
# The project's tests: Rust unit and integration tests with real clients, the headless
# engine tests on a real Godot 4 (tools/godot.sh finds one or fetches Debian's), and the
# Autobahn conformance runs.
#   SKIP_AUTOBAHN=1  skips the Autobahn runs (about 8 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-clients.sh
export WS_PYTHON="$PWD/.venv/bin/python"
# The engine for the engine tests (fetched on first use); they fail, never skip, without one.
GODOT="$(bash tools/godot.sh)"
export GODOT

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test 2>&1 | tee "$log"

autobahn="skipped"
if [ -z "${SKIP_AUTOBAHN:-}" ]; then
  bash tools/autobahn.sh
  autobahn="0 FAILED cases"
fi

# One line for all cargo test runs.
awk -v autobahn="$autobahn" '/^test result:/ { p += $4; f += $6; s += $8 }
  END { printf "Autobahn: %s\ntests: %d passed, %d failed, %d skipped\n", autobahn, p, f, s }' "$log"
