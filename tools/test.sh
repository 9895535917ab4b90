#!/usr/bin/env bash
# The project's tests: Rust unit and integration tests with real clients, the headless
# engine tests on a real Godot 4 (tools/godot.sh finds one or fetches Debian's), and the
# Autobahn conformance runs; then the other platforms (tests/platforms.rs: Linux arm64
# under qemu, the exported dedicated servers, the release zip with every platform's
# library; tools/test-windows.sh: the Windows build under wine).
#   SKIP_AUTOBAHN=1   skips the Autobahn runs (about 8 minutes; 4 more under wine)
#   SKIP_PLATFORMS=1  skips the other platforms (about 9 minutes; the first run on a machine
#                     also builds every platform's library, about 25 minutes more)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-clients.sh
export WS_PYTHON="$PWD/.venv/bin/python"
# The engine for the engine tests (fetched on first use); they fail, never skip, without one.
GODOT="$(bash tools/godot.sh)"
export GODOT

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
platforms="run"
if [ -n "${SKIP_PLATFORMS:-}" ]; then
  platforms="skipped"
  cargo test -- --skip platform_ 2>&1 | tee "$log"
else
  cargo test 2>&1 | tee "$log"
  bash tools/test-windows.sh 2>&1 | tee -a "$log"
fi

autobahn="skipped"
if [ -z "${SKIP_AUTOBAHN:-}" ]; then
  bash tools/autobahn.sh
  autobahn="0 FAILED cases"
fi

# One line for all cargo test runs.
awk -v autobahn="$autobahn" -v platforms="$platforms" '/^test result:/ { p += $4; f += $6; s += $8 }
  END { printf "Autobahn: %s\nOther platforms: %s\ntests: %d passed, %d failed, %d skipped\n", autobahn, platforms, p, f, s }' "$log"
