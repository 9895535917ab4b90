#!/usr/bin/env bash
# Runs the Autobahn Testsuite fuzzingclient against three servers and fails on any FAILED
# case of any: the core's echo example (examples/echo.rs), the same over wss (rustls
# under every frame; the compression cases 12.* and 13.* are left out there, as they
# take a quarter of an hour and the first run has them), and an echo script hosted in
# Godot on our classes (godot-project/tests/autobahn_echo.gd: GDScript, the Godot layer
# and the core together). Prints one summary line per server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-clients.sh --autobahn
godot="$(bash tools/godot.sh)"
bash tools/build-addon.sh > /dev/null
bash tools/prepare-project.sh godot-project
cargo build --release --quiet --example echo
out=reports/autobahn
rm -rf "$out" && mkdir -p "$out"
core_port=9001
godot_port=9002
wss_port=9003
# A certificate for the wss echo (Autobahn's client does not check it).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$out/key.pem" -out "$out/cert.pem" 2>/dev/null
# Autobahn's largest messages are 16 MiB: give the echo servers room for them.
# Compression on: Autobahn offers permessage-deflate in cases 12.* and 13.* only, so the
# others still test connections without it.
./target/release/examples/echo "$core_port" --buffer-kb 32768 --packets 4096 --compress > "$out/echo.log" 2>&1 &
core_pid=$!
./target/release/examples/echo "$wss_port" --buffer-kb 32768 --packets 4096 --compress \
  --tls-cert "$out/cert.pem" --tls-key "$out/key.pem" > "$out/echo-wss.log" 2>&1 &
wss_pid=$!
GDRUST_SUPPRESSED_WARNINGS=RegisterDocsInExport "$godot" --headless --path godot-project \
  --script res://tests/autobahn_echo.gd -- --port="$godot_port" > "$out/godot-echo.log" 2>&1 &
godot_pid=$!
trap 'kill $core_pid $wss_pid $godot_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q "listening" "$out/echo.log" && grep -q "listening" "$out/echo-wss.log" \
    && grep -q "listening" "$out/godot-echo.log" && break
  sleep 0.2
done
# One wstest per server, side by side: the compression cases (12.*, 13.*) take minutes
# each, and the Python client is what takes the time.
for agent in core core-wss godot; do
  url="ws://127.0.0.1:$core_port" exclude=""
  [ "$agent" = godot ] && url="ws://127.0.0.1:$godot_port"
  [ "$agent" = core-wss ] && url="wss://127.0.0.1:$wss_port" exclude='"12.*", "13.*"'
  mkdir -p "$out/$agent"
  cat > "$out/$agent/spec.json" <<JSON
{
  "outdir": "$PWD/$out/$agent",
  "servers": [{"agent": "$agent", "url": "$url"}],
  "cases": ["*"],
  "exclude-cases": [$exclude],
  "exclude-agent-cases": {}
}
JSON
  (cd "$out/$agent" && ../../../.autobahn/bin/wstest -m fuzzingclient -s spec.json > wstest.log 2>&1) &
  eval "${agent//-/_}_wstest=\$!"
done
wait "$core_wstest" "$core_wss_wstest" "$godot_wstest"
.venv/bin/python - "$out" <<'PY'
import json, sys, collections
bad = False
for agent, what in [("core", "core echo example"), ("core-wss", "core echo example over wss"), ("godot", "GDScript echo in Godot")]:
    cases = json.load(open(f"{sys.argv[1]}/{agent}/index.json"))[agent]
    counts = collections.Counter(c["behavior"] for c in cases.values())
    failed = sorted((k for k, c in cases.items() if c["behavior"] == "FAILED"), key=lambda k: [int(x) for x in k.split(".")])
    parts = ", ".join(f"{counts[b]} {b}" for b in ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"])
    print(f"Autobahn fuzzingclient, {what}: {len(cases)} cases: {parts}")
    if failed:
        print("  FAILED cases: " + " ".join(failed))
        bad = True
sys.exit(1 if bad else 0)
PY
