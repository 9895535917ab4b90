#!/usr/bin/env bash
# The churn soak (benches/soak/): a headless Godot server on our class (ws and wss, 5 s
# heartbeat, echo) and 1,000 clients behind the bad networks of tools/network-profiles.tsv,
# joining, chatting, leaving and cutting at random, a tenth over wss. Prints the server's
# memory (its highest resident set, read from /proc, beside its peers), open file
# descriptors, threads and peers minute by minute, then the clients' counts beside the
# server's statistics; fails on errors other
# than the cuts', on counts that disagree, on leftovers or growth. Needs root (network
# namespaces). CI runs it for 3 minutes.
#   bash tools/soak.sh [MINUTES] [--compare | --kind=godot_mp | --kind=tcp]
#     MINUTES: default 3; SOAK_CLIENTS=N for another number of clients; --compare runs the
#     same soak against Godot's WebSocketMultiplayerPeer and TCPServer+WebSocketPeer after
#     ours, each for MINUTES, and prints the three side by side (only ours is checked).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup-clients.sh > /dev/null
bash tools/godot.sh > /dev/null
bash tools/build-addon.sh > /dev/null
bash tools/prepare-project.sh godot-project
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
minutes="${1:-3}"
shift || true
cargo bench --bench soak -- --minutes="$minutes" "$@"
