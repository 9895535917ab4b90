#!/usr/bin/env bash
# Exports the demo chat server as a dedicated server, the way users deploy one: Godot's
# `--headless --export-release` with a preset of godot-project/export_presets.cfg and a
# release export template, the addon's library copied next to the binary by Godot.
#
#   bash tools/export-server.sh [--arch x86_64|arm64] OUT_DIR
#
# Writes OUT_DIR/server.ARCH, OUT_DIR/server.pck and the library. The template is Debian
# sid's `godot-template-release` (amd64, or arm64 from tools/godot-arm64.sh), fetched on
# first use into ${XDG_CACHE_HOME:-~/.cache}/godot-websocket-server/ and shown to Godot
# through an export-templates folder of its own there (your own Godot data folder is not
# touched). With your own Godot, install its export templates (Editor > Manage Export
# Templates) and run the same --export-release command.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=x86_64
if [ "${1:-}" = --arch ]; then arch="$2"; shift 2; fi
out="${1:?usage: tools/export-server.sh [--arch x86_64|arm64] OUT_DIR}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/godot-websocket-server"
say() { echo "export-server: $*" >&2; }

godot="$(bash tools/godot.sh)"
case "$arch" in
  x86_64)
    bash tools/build-addon.sh
    template="$cache/debian-godot/usr/bin/godot-template-release"
    if [ ! -x "$template" ]; then
      say "fetching Debian's release export template (package godot-template-release from the unstable suite, about 40 MB) beside the engine in $cache/debian-godot"
      # shellcheck source=tools/debian-sid.sh
      source tools/debian-sid.sh
      sid_fetch --add --no-deps "$cache/debian-godot" amd64 godot-template-release
    fi
    preset="Linux dedicated server x86_64"
    ;;
  arm64)
    bash tools/build-addon.sh --platform linux-arm64
    template="$("$(bash tools/godot-arm64.sh)" --root)/usr/bin/godot-template-release"
    preset="Linux dedicated server arm64"
    ;;
  *) say "unknown architecture $arch (x86_64 or arm64)"; exit 2 ;;
esac

# Godot looks for templates in DATA/godot/export_templates/<major.minor.patch.status>/.
version="$("$godot" --headless --version | tail -n 1)"
[[ "$version" =~ ^([0-9]+(\.[0-9]+)+\.[a-z]+[0-9]*) ]] || { say "cannot read Godot's version from '$version'"; exit 1; }
data="$cache/export-data"
templates="$data/godot/export_templates/${BASH_REMATCH[1]}"
mkdir -p "$templates"
ln -sfn "$template" "$templates/linux_release.$arch"

bash tools/prepare-project.sh godot-project
mkdir -p "$out"
out="$(cd "$out" && pwd)"
rm -f "$out/server.$arch" "$out/server.pck"
XDG_DATA_HOME="$data" "$godot" --headless --path godot-project --export-release "$preset" "$out/server.$arch"
[ -x "$out/server.$arch" ] && [ -f "$out/server.pck" ] || { say "Godot wrote no server.$arch and server.pck into $out"; exit 1; }
say "$out/server.$arch ($(du -h "$out/server.$arch" | cut -f1)), server.pck and $(cd "$out" && ls ./*.so | xargs -n1 basename | tr '\n' ' ')"
