#!/usr/bin/env bash
# The Windows build of the core, run for real under wine (Debian's wine64) on this Linux
# machine:
#   1. the core's integration tests whose clients are Rust and in-process (the modules
#      server, way_in, connection, peer, limits, multiplayer and proxies of the test
#      program `it`), built for x86_64-pc-windows-gnu;
#   2. the core echo example under wine, answered to Python `websockets` from Linux;
#   3. the Autobahn Testsuite's fuzzingclient from Linux against that echo (0 FAILED);
#   4. the shipped DLL (tools/build-addon.sh's, built with LTO) loads under wine and has
#      its entry point.
# The Windows DLL inside a Windows Godot cannot be run here (no registry has a Windows
# Godot); tools/check-libs.py checks its exports and imports.
#   SKIP_AUTOBAHN=1  skips step 3
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tools/cross.sh
source tools/cross.sh
say() { echo "test-windows: $*" >&2; }

wine=/usr/lib/wine/wine64
cross_ensure_apt "$wine" wine64
cross_env windows-x86_64
triple="$cross_triple"
# The modules run (a test whose name contains one of these); reconnection:: also contains
# "connection::" and is skipped below.
modules=(server:: way_in:: connection:: peer:: limits:: multiplayer:: proxies::)

# Build the test programs and the echo example; note where cargo put each test program.
log="$(mktemp)"
work="$(mktemp -d)"
trap 'kill "${echo_pid:-}" 2>/dev/null || true; WINEPREFIX="$work/prefix" /usr/lib/wine/wineserver64 -k 2>/dev/null || true; rm -rf "$work" "$log"' EXIT
cargo +nightly test "${cross_cargo_args[@]}" --target "$triple" --test it --no-run 2>&1 | tee "$log" >&2
cargo +nightly build "${cross_cargo_args[@]}" --target "$triple" --example echo >&2
mapfile -t programs < <(sed -n 's/.*Executable .* (\(.*\.exe\))$/\1/p' "$log")
[ ${#programs[@]} -eq 1 ] || { say "expected 1 test program, cargo built ${#programs[@]}"; exit 1; }

# Wine 8.0 has no bcryptprimitives.dll (Windows 10+ does): a stand-in next to the programs.
shim="$cross_cache/wine/bcryptprimitives.dll"
if [ ! -f "$shim" ] || [ tools/wine/processprng.c -nt "$shim" ]; then
  mkdir -p "$(dirname "$shim")"
  x86_64-w64-mingw32-gcc -shared -O2 -o "$shim" tools/wine/processprng.c -ladvapi32
fi
export WINEPREFIX="$work/prefix" WINEDEBUG=-all
say "starting a fresh wine prefix (about 30 s the first time)"
# One wineserver for the whole run: by default it exits a few seconds after its last
# program, and a program started at that moment loses it ("wine client error: recvmsg:
# Connection reset by peer", seen once in CI). The exit trap stops it.
mkdir -p "$WINEPREFIX"
/usr/lib/wine/wineserver64 -p 2>/dev/null || true
"$wine" cmd /c exit >/dev/null 2>&1 || true

# Left out under wine, and why: wine 8.0 serves the socket polls that tokio (mio) makes on
# Windows through its wineserver at a cost that grows with the number of sockets; a bare
# tokio-tungstenite echo under wine opens 200 clients at once in 1.5 s, 400 in 11 s, and
# not 600 within 20 s, and ours the same. Real Windows has no such limit. The burst of
# 200 below (Python clients from Linux) takes its place.
skip=(--skip a_burst_of_a_thousand_clients_all_get_in --skip reconnection::)
# Every part runs even when one before it failed; the exit status says whether all passed.
status=0
for program in "${programs[@]}"; do
  cp "$shim" "$(dirname "$program")/"
  say "running $(basename "$program") under wine"
  "$wine" "$program" --test-threads=2 "${modules[@]}" "${skip[@]}" || { say "$(basename "$program") FAILED under wine"; status=1; }
done

# The echo example under wine, clients from Linux.
echo_dir="$cross_cache/target/$triple/release/examples"
cp "$shim" "$echo_dir/"
port=9041
# Compression on: Python websockets agrees to it, so its echoes go through DEFLATE on
# Windows too.
"$wine" "$echo_dir/echo.exe" "$port" --buffer-kb 32768 --packets 4096 --compress > "$work/echo.log" 2>&1 &
echo_pid=$!
for _ in $(seq 300); do grep -q listening "$work/echo.log" && break; sleep 0.2; done
grep -q listening "$work/echo.log" || { say "the echo example did not start under wine:"; cat "$work/echo.log" >&2; exit 1; }
bash tools/setup-clients.sh --autobahn >&2
.venv/bin/python - "$port" <<'PY' || { say "the Python clients against the echo under wine FAILED"; status=1; }
import asyncio, sys, websockets

async def burst_client(port, i):
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/", open_timeout=30)
    await ws.send(f"hello {i}")
    assert await ws.recv() == f"hello {i}"
    return ws

async def main(port):
    async with websockets.connect(f"ws://127.0.0.1:{port}/", max_size=None) as ws:
        ext = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        assert ext.startswith("permessage-deflate;"), ext
        for i in range(2000):
            await ws.send(f"text {i}")
            assert await ws.recv() == f"text {i}", i
        blob = bytes(range(256)) * 4096
        await ws.send(blob)
        assert await ws.recv() == blob
    clients = await asyncio.gather(*[burst_client(port, i) for i in range(200)])
    for ws in clients:
        await ws.close()
    print("test result: ok. 1 passed; 0 failed; 0 ignored (Python websockets: 2,000 text echoes, a 1 MiB binary one, compressed, 200 clients at once, from the Windows echo under wine)")

asyncio.run(main(int(sys.argv[1])))
PY

if [ -z "${SKIP_AUTOBAHN:-}" ]; then
  out=reports/autobahn-windows
  rm -rf "$out" && mkdir -p "$out"
  # The compression cases (12.*, 13.*) are left out here: they take a quarter of an hour
  # of the Python client's time, and tools/autobahn.sh runs them on Linux.
  cat > "$out/spec.json" <<JSON
{"outdir": "$PWD/$out", "servers": [{"agent": "core-windows", "url": "ws://127.0.0.1:$port"}],
 "cases": ["*"], "exclude-cases": ["12.*", "13.*"], "exclude-agent-cases": {}}
JSON
  (cd "$out" && ../../.autobahn/bin/wstest -m fuzzingclient -s spec.json > wstest.log 2>&1) || { say "wstest FAILED (see $out/wstest.log)"; status=1; }
  .venv/bin/python - "$out/index.json" <<'PY' || status=1
import collections, json, sys
cases = json.load(open(sys.argv[1]))["core-windows"]
counts = collections.Counter(c["behavior"] for c in cases.values())
failed = sorted(k for k, c in cases.items() if c["behavior"] == "FAILED")
parts = ", ".join(f"{counts[b]} {b}" for b in ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"])
print(f"Autobahn fuzzingclient, core echo example on Windows (wine): {len(cases)} cases: {parts}")
if failed:
    print("  FAILED cases: " + " ".join(failed))
sys.exit(1 if failed else 0)
PY
fi
# The shipped DLL loads (its initialisers run) and has the entry point Godot calls.
cross_build windows-x86_64 "$work/dll/godot_websocket_server.dll" >&2
cp "$shim" "$work/dll/"
x86_64-w64-mingw32-gcc -O2 -o "$work/dll/load_library.exe" tools/wine/load_library.c
if (cd "$work/dll" && "$wine" load_library.exe godot_websocket_server.dll); then
  echo "test result: ok. 1 passed; 0 failed; 0 ignored (the shipped DLL, $(du -k "$work/dll/godot_websocket_server.dll" | cut -f1) KB, loads under wine)"
else
  say "the shipped DLL does not load under wine"; status=1
fi
exit "$status"
