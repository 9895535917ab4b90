#!/usr/bin/env bash
# Builds the extension library (release) and puts it where
# addons/websocket_server/websocket_server.gdextension points; then copies the addon
# into the demo project (godot-project/addons/, ignored by git).
#
#   bash tools/build-addon.sh                       this machine's platform only (what the
#                                                   demo and the tests use)
#   bash tools/build-addon.sh --all                 every platform the .gdextension lists
#   bash tools/build-addon.sh --platform NAME ...   one or more of: linux-x86_64,
#                                                   linux-arm64, windows-x86_64, macos-universal
#
# Other platforms are built from Linux x86_64 by tools/cross.sh, which fetches what it
# needs on first use (and says so). PROFILE=debug builds the host library unoptimized.
set -euo pipefail
cd "$(dirname "$0")/.."
# Started from a test, cargo's variables for that test are set; ring's build script watches
# CARGO_MANIFEST_DIR, and a build from a test and one from the shell would each compile
# everything again after the other.
unset CARGO_MANIFEST_DIR CARGO_PKG_NAME CARGO_PKG_VERSION CARGO_PRIMARY_PACKAGE CARGO_TARGET_TMPDIR
bin=addons/websocket_server/bin
all=(linux-x86_64 linux-arm64 windows-x86_64 macos-universal)

# The file each platform's library has in the addon (the .gdextension's [libraries]).
file_of() {
  case "$1" in
    linux-x86_64) echo libgodot_websocket_server.so ;;
    linux-arm64) echo libgodot_websocket_server.arm64.so ;;
    windows-x86_64) echo godot_websocket_server.dll ;;
    macos-universal) echo libgodot_websocket_server.dylib ;;
    *) echo "build-addon: unknown platform $1 (${all[*]})" >&2; return 1 ;;
  esac
}

host_platform() {
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) echo linux-x86_64 ;;
    Linux-aarch64|Linux-arm64) echo linux-arm64 ;;
    Darwin-*) echo macos-universal ;;
    MINGW*|MSYS*|CYGWIN*) echo windows-x86_64 ;;
    *) echo "build-addon: unknown platform $(uname -s)-$(uname -m)" >&2; return 1 ;;
  esac
}

# This machine's library, with the toolchain as it is (no nightly, nothing fetched).
build_host() {
  local profile="${PROFILE:-release}" built
  if [ "$profile" = release ]; then cargo build --release --lib; else cargo build --lib; fi
  built="target/$profile/$(file_of "$1")"
  case "$1" in
    linux-arm64) built="target/$profile/libgodot_websocket_server.so" ;;
    macos-universal) built="target/$profile/libgodot_websocket_server.dylib" ;;
  esac
  cp "$built" "$bin/$(file_of "$1")"
  # A release for users (--all, --platform) is stripped; the everyday build keeps its
  # symbols for backtraces.
  if [ -n "$strip" ] && [ "${1%%-*}" = linux ]; then strip --strip-unneeded "$bin/$(file_of "$1")"; fi
}

platforms=()
strip=""
while [ $# -gt 0 ]; do
  case "$1" in
    --all) platforms+=("${all[@]}") ;;
    --platform) shift; platforms+=("${1:?--platform needs a name: ${all[*]}}") ;;
    --platform=*) platforms+=("${1#--platform=}") ;;
    *) echo "build-addon: unknown argument $1 (--all, --platform NAME)" >&2; exit 2 ;;
  esac
  shift
done
host="$(host_platform)"
if [ ${#platforms[@]} -gt 0 ]; then strip=1; else platforms=("$host"); fi

mkdir -p "$bin"
for platform in "${platforms[@]}"; do
  file="$(file_of "$platform")"
  if [ "$platform" = "$host" ]; then
    build_host "$platform"
  elif [ "$host" = linux-x86_64 ]; then
    # shellcheck source=tools/cross.sh
    source tools/cross.sh
    cross_build "$platform" "$bin/$file"
  else
    echo "build-addon: $platform is built from Linux x86_64 only (this is $host)" >&2
    exit 1
  fi
  echo "build-addon: $bin/$file ($(du -h "$bin/$file" | cut -f1))"
done

rm -rf godot-project/addons/websocket_server
mkdir -p godot-project/addons
cp -r addons/websocket_server godot-project/addons/
