#!/usr/bin/env bash
# Builds the addon and runs the demo chat/echo server headless (port 9080, or $PORT).
# Try it with any WebSocket client, e.g. `websocat ws://127.0.0.1:9080/`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build-addon.sh
godot="$(bash tools/godot.sh)" || exit 2
bash tools/prepare-project.sh godot-project
exec "$godot" --headless --path godot-project -- --port="${PORT:-9080}" "$@"
