#!/usr/bin/env bash
# Makes a project runnable by an export/template Godot build, which does not import:
# writes .godot/extension_list.cfg (the addon's .gdextension) and an empty script
# class cache.
set -euo pipefail
project="$1"
mkdir -p "$project/.godot"
echo "res://addons/websocket_server/websocket_server.gdextension" > "$project/.godot/extension_list.cfg"
[ -f "$project/.godot/global_script_class_cache.cfg" ] || echo "list=[]" > "$project/.godot/global_script_class_cache.cfg"
