#!/usr/bin/env bash
# Builds the extension library (release) for this machine and puts it where
# addons/websocket_server/websocket_server.gdextension points; then copies the addon
# into the demo project (godot-project/addons/, ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${PROFILE:-release}"
if [ "$profile" = release ]; then cargo build --release --lib; else cargo build --lib; fi
out="target/$profile"
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) src="$out/libgodot_websocket_server.so"; dst=libgodot_websocket_server.so ;;
  Linux-aarch64|Linux-arm64) src="$out/libgodot_websocket_server.so"; dst=libgodot_websocket_server.arm64.so ;;
  Darwin-*) src="$out/libgodot_websocket_server.dylib"; dst=libgodot_websocket_server.dylib ;;
  MINGW*|MSYS*|CYGWIN*) src="$out/godot_websocket_server.dll"; dst=godot_websocket_server.dll ;;
  *) echo "build-addon: unknown platform $(uname -s)-$(uname -m)" >&2; exit 1 ;;
esac
mkdir -p addons/websocket_server/bin
cp "$src" "addons/websocket_server/bin/$dst"
rm -rf godot-project/addons/websocket_server
mkdir -p godot-project/addons
cp -r addons/websocket_server godot-project/addons/
echo "build-addon: addons/websocket_server/bin/$dst ($(du -h "addons/websocket_server/bin/$dst" | cut -f1))"
