#!/usr/bin/env bash
# Builds the addon and runs the demo chat/echo server headless (port 9080, or $PORT).
# Try it in a browser (it prints the address of godot-project/demo/chat.html, a chat page)
# or with any WebSocket client, e.g. `websocat ws://127.0.0.1:9080/`.
# `bash tools/demo.sh --multiplayer` runs the high-level multiplayer demo server
# instead (port 9081); join it with the same scene and `-- --connect=ws://HOST:9081`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build-addon.sh
godot="$(bash tools/godot.sh)" || exit 2
bash tools/prepare-project.sh godot-project
scene=res://demo/chat_server.tscn
args=(--port="${PORT:-9080}")
if [ "${1:-}" = "--multiplayer" ]; then
  shift
  scene=res://demo/multiplayer_demo.tscn
  args=(--server --port="${PORT:-9081}")
fi
if [ "$scene" = res://demo/chat_server.tscn ]; then
  echo "Chat page: open file://$PWD/godot-project/demo/chat.html?server=ws://127.0.0.1:${PORT:-9080}/ in a browser (twice, to chat)"
fi
exec "$godot" --headless --path godot-project "$scene" -- "${args[@]}" "$@"
