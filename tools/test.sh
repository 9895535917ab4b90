#!/usr/bin/env bash
# The project's tests: Rust unit and integration tests with real clients, the headless
# engine tests on a real Godot 4 (tools/godot.sh finds one or fetches Debian's), and the
# Autobahn conformance runs; then the other platforms (tests/it/platforms.rs: Linux arm64
# under qemu, the exported dedicated servers, the release zip with every platform's
# library; tools/test-windows.sh: the Windows build under wine).
# Every part runs even when one before it failed; at the end, every failure is listed
# above one summary line, and the exit status is non-zero if anything failed.
#   SKIP_AUTOBAHN=1   skips the Autobahn runs (about 8 minutes; 4 more under wine)
#   SKIP_PLATFORMS=1  skips the other platforms (about 9 minutes; the first run on a machine
#                     also builds every platform's library, about 25 minutes more)
set -uo pipefail
cd "$(dirname "$0")/.."
# What the tests need: without it nothing can run, so this stops at once.
bash tools/setup-clients.sh || { echo "test.sh: installing the test clients failed" >&2; exit 1; }
export WS_PYTHON="$PWD/.venv/bin/python"
# The engine for the engine tests (fetched on first use); they fail, never skip, without one.
GODOT="$(bash tools/godot.sh)" || { echo "test.sh: no Godot 4 engine (tools/godot.sh)" >&2; exit 1; }
export GODOT

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
failed_parts=()
platforms="run"
if [ -n "${SKIP_PLATFORMS:-}" ]; then
  platforms="skipped"
  cargo test --no-fail-fast -- --skip platform_ 2>&1 | tee "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || failed_parts+=("cargo test")
else
  cargo test --no-fail-fast 2>&1 | tee "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || failed_parts+=("cargo test")
  bash tools/test-windows.sh 2>&1 | tee -a "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || failed_parts+=("Windows under wine (tools/test-windows.sh)")
fi

autobahn="skipped"
if [ -z "${SKIP_AUTOBAHN:-}" ]; then
  if bash tools/autobahn.sh; then
    autobahn="0 FAILED cases"
  else
    autobahn="FAILED (see above and reports/autobahn)"
    failed_parts+=("Autobahn (tools/autobahn.sh)")
  fi
fi

# Every failed test by name (cargo prints "---- name stdout ----" for each), then the
# parts that failed, then one line for all test runs.
mapfile -t failed_tests < <(sed -n 's/^---- \(.*\) stdout ----$/\1/p' "$log" | sort -u)
if [ ${#failed_tests[@]} -gt 0 ] || [ ${#failed_parts[@]} -gt 0 ]; then
  echo
  echo "Failed:"
  for t in "${failed_tests[@]}"; do echo "  test $t"; done
  # cargo names the test programs that failed ("error: N targets failed:" then one per line).
  sed -n '/^error: [0-9]* targets\? failed:$/,/^[^ ]/{s/^    \(`.*`\)$/  program \1/p}' "$log"
  for p in "${failed_parts[@]}"; do echo "  part: $p"; done
fi
awk -v autobahn="$autobahn" -v platforms="$platforms" '/^test result:/ { p += $4; f += $6; s += $8 }
  END { printf "Autobahn: %s\nOther platforms: %s\ntests: %d passed, %d failed, %d skipped\n", autobahn, platforms, p, f, s }' "$log"
[ ${#failed_parts[@]} -eq 0 ]
