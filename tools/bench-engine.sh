#!/usr/bin/env bash
# The benchmark inside the engine (benches/engine/): ours vs Godot's multiplayer server vs
# Godot's TCPServer + WebSocketPeer, three GDScript echo servers on the engine tools/godot.sh
# finds, one after the other in one run, with the load from a Rust client. Prints a table
# of figures and ratios. About 15 minutes; --quick about 2 (without the wss, reconnect
# and compression lines). --only=LINE[,LINE] runs some lines (burst, idle, throughput,
# latency, fanout, wss, reconnect, compression, rpc; scale, 1,000 to 19,000 connections,
# runs only when asked for).
#   bash tools/bench-engine.sh [--quick] [--only=compression]
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/godot.sh > /dev/null
# The latency and RPC lines capture the loopback traffic (dumpcap and tshark).
if ! command -v dumpcap >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tshark >/dev/null
fi
bash tools/build-addon.sh > /dev/null
bash tools/prepare-project.sh godot-project
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
cargo bench --bench engine -- "$@"
