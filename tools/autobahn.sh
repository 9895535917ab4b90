#!/usr/bin/env bash
# Runs the Autobahn Testsuite fuzzingclient against the core's echo example
# (examples/echo.rs) and fails on any FAILED case. Prints one summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-clients.sh --autobahn
cargo build --release --quiet --example echo
out=reports/autobahn
rm -rf "$out" && mkdir -p "$out"
port=9001
# Autobahn's largest messages are 16 MiB: give the echo server room for them.
./target/release/examples/echo "$port" --buffer-kb 32768 --packets 4096 > "$out/echo.log" 2>&1 &
echo_pid=$!
trap 'kill $echo_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q "listening" "$out/echo.log" && break; sleep 0.1; done
cat > "$out/spec.json" <<JSON
{
  "outdir": "$PWD/$out",
  "servers": [{"agent": "godot-websocket-server", "url": "ws://127.0.0.1:$port"}],
  "cases": ["*"],
  "exclude-cases": [],
  "exclude-agent-cases": {}
}
JSON
(cd "$out" && ../../.autobahn/bin/wstest -m fuzzingclient -s spec.json > wstest.log 2>&1)
.venv/bin/python - "$out/index.json" <<'PY'
import json, sys, collections
index = json.load(open(sys.argv[1]))
cases = index["godot-websocket-server"]
counts = collections.Counter(c["behavior"] for c in cases.values())
failed = sorted((k for k, c in cases.items() if c["behavior"] == "FAILED"), key=lambda k: [int(x) for x in k.split(".")])
parts = ", ".join(f"{counts[b]} {b}" for b in ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"])
print(f"Autobahn fuzzingclient: {len(cases)} cases: {parts}")
if failed:
    print("FAILED cases: " + " ".join(failed))
    sys.exit(1)
PY
