#!/usr/bin/env bash
# Prints the path of a command that runs Debian's arm64 Godot 4 (the unstable suite's
# `godot:arm64`, the editor build) on this Linux x86_64 machine under qemu-user; its
# arm64 export template (`godot-template-release:arm64`) lies in the same root, whose
# path the command prints with --root. Fetched on first use into
# ${XDG_CACHE_HOME:-~/.cache}/godot-websocket-server/debian-godot-arm64/ (about 500 MB,
# it says so on the console) with a private apt state and dpkg -x; qemu-user-static
# comes from Debian's packages. Progress goes to stderr; only the path goes to stdout.
set -euo pipefail

cache="${XDG_CACHE_HOME:-$HOME/.cache}/godot-websocket-server"
root="$cache/debian-godot-arm64"
cmd="$cache/arm64/godot"

say() { echo "godot-arm64.sh: $*" >&2; }

if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ] || ! command -v apt-get >/dev/null 2>&1; then
  say "runs Debian's arm64 Godot on a Debian/Ubuntu Linux x86_64 machine only"
  exit 1
fi
if ! command -v qemu-aarch64-static >/dev/null 2>&1; then
  say "installing qemu-user-static (Debian package)"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null
fi

if [ ! -x "$cmd" ] || [ ! -x "$root/usr/bin/godot" ] || [ ! -x "$root/usr/bin/godot-template-release" ]; then
  say "fetching Debian's arm64 Godot 4 and its release export template (packages godot:arm64 and godot-template-release:arm64 from the unstable suite, about 500 MB) into $root"
  # shellcheck source=tools/debian-sid.sh
  source "$(dirname "${BASH_SOURCE[0]}")/debian-sid.sh"
  sid_fetch "$root" arm64 godot godot-template-release
  # usr-merged Debian reaches its loader through /lib.
  [ -e "$root/lib" ] || ln -s usr/lib "$root/lib"
  mkdir -p "$(dirname "$cmd")"
  cat > "$cmd" <<SH
#!/bin/sh
# Debian's arm64 Godot under qemu-user (made by tools/godot-arm64.sh).
[ "\$1" = --root ] && { echo "$root"; exit 0; }
exec qemu-aarch64-static -L "$root" "$root/usr/bin/godot" "\$@"
SH
  chmod +x "$cmd"
fi
version="$(timeout 120 "$cmd" --headless --version 2>/dev/null | tail -n 1 || true)"
if [[ ! "$version" =~ ^4\. ]]; then
  say "the arm64 engine does not run under qemu ($cmd --headless --version printed '${version:-nothing}')"
  exit 1
fi
echo "$cmd"
