#!/usr/bin/env bash
# Makes the release: builds the addon for every platform (tools/build-addon.sh --all),
# checks each library as a loader would see it (tools/check-libs.py), and writes
# dist/godot-websocket-server-VERSION.zip, whose root holds addons/websocket_server/ as
# Godot's Asset Library installs it: every platform's library in bin/, the .gdextension,
# the editor icons, LICENSE and a short README.
#
#   bash tools/release.sh [--no-build]    --no-build zips the libraries already in bin/
#
# VERSION is Cargo.toml's; the .gdextension's first line and CHANGELOG.md must carry it.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "release: $*" >&2; }

version="$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)"
addon=addons/websocket_server
grep -q "^; godot-websocket-server $version:" "$addon/websocket_server.gdextension" \
  || { say "$addon/websocket_server.gdextension's first line does not name version $version (Cargo.toml)"; exit 1; }
grep -q "^## \[$version\]" CHANGELOG.md || { say "CHANGELOG.md has no '## [$version]' section"; exit 1; }

[ "${1:-}" = --no-build ] || bash tools/build-addon.sh --all

# lief reads the libraries; it lives in the cross-build virtualenv (tools/cross.sh).
# shellcheck source=tools/cross.sh
source tools/cross.sh
cross_ensure_venv
"$cross_cache/venv/bin/python" tools/check-libs.py "$addon/bin"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/$addon/bin"
cp "$addon/websocket_server.gdextension" "$stage/$addon/"
cp -r "$addon/icons" "$stage/$addon/"
for f in libgodot_websocket_server.so libgodot_websocket_server.arm64.so \
  godot_websocket_server.dll libgodot_websocket_server.dylib; do
  cp "$addon/bin/$f" "$stage/$addon/bin/"
done
cp LICENSE "$stage/$addon/LICENSE"
cp "$addon/README.md" "$stage/$addon/README.md"
mkdir -p dist
zip_path="$PWD/dist/godot-websocket-server-$version.zip"
rm -f "$zip_path"
# Fixed times and order: the same libraries give the same zip.
find "$stage" -exec touch -h -d "$(git log -1 --format=%cI 2>/dev/null || date -Iseconds)" {} +
(cd "$stage" && find addons | LC_ALL=C sort | zip -q -X -@ "$zip_path")
say "$zip_path ($(du -h "$zip_path" | cut -f1)):"
unzip -l "$zip_path" >&2
