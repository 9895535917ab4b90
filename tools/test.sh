#!/usr/bin/env bash
# The project's tests: Rust unit and integration tests with real clients, the Autobahn
# conformance run, and (with GODOT set) the headless engine tests.
#   SKIP_AUTOBAHN=1  skips the Autobahn run (about 4 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-clients.sh
export WS_PYTHON="$PWD/.venv/bin/python"

# The engine scenes run on a real engine later; their syntax is checked here.
gd_files=$(find godot-project -name '*.gd' -not -path '*/.godot/*' -not -path '*/addons/*')
.venv/bin/gdparse $gd_files > /dev/null
echo "gdscript syntax: $(echo "$gd_files" | wc -l) files parse"

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test 2>&1 | tee "$log"

if [ -n "${GODOT:-}" ]; then
  bash tools/engine-tests.sh 2>&1 | tee -a "$log"
else
  echo "engine tests: skipped (ignored above); set GODOT=/path/to/godot to run them"
fi

autobahn="skipped"
if [ -z "${SKIP_AUTOBAHN:-}" ]; then
  bash tools/autobahn.sh
  autobahn="0 FAILED cases"
fi

# One line for all cargo test runs (the engine tests count as skipped without GODOT).
awk -v autobahn="$autobahn" '/^test result:/ { p += $4; f += $6; s += $8 }
  END { printf "Autobahn: %s\ntests: %d passed, %d failed, %d skipped\n", autobahn, p, f, s }' "$log"
