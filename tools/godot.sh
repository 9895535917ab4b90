#!/usr/bin/env bash
# Prints the path of a Godot 4 (4.3 or later) binary, in this order:
#   1. $GODOT, when set (refused with a message if it is not Godot 4.3+);
#   2. `godot` on PATH, if its --version is 4.3 or later;
#   3. Debian's Godot 4 (the unstable suite's `godot` package, the editor build), cached in
#      ${XDG_CACHE_HOME:-~/.cache}/godot-websocket-server/ and fetched there on first use on
#      an apt-based Linux: downloaded with a private apt state, unpacked with dpkg -x, and
#      pointed at its own C library with patchelf (nothing installed system-wide but
#      patchelf, and no LD_LIBRARY_PATH, so processes it starts keep this machine's libraries).
# Otherwise exits 1 saying what to do. Progress goes to stderr; only the path goes to stdout.
set -euo pipefail

cache="${XDG_CACHE_HOME:-$HOME/.cache}/godot-websocket-server"
root="$cache/debian-godot"
bin="$cache/bin/godot"

say() { echo "godot.sh: $*" >&2; }

# True when "$1" is a Godot binary of version 4.3 or later; sets $version.
is_godot4() {
  version="$(timeout 60 "$1" --headless --version 2>/dev/null | tail -n 1 || true)"
  [[ "$version" =~ ^([0-9]+)\.([0-9]+) ]] || return 1
  local major="${BASH_REMATCH[1]}" minor="${BASH_REMATCH[2]}"
  [ "$major" -gt 4 ] || { [ "$major" -eq 4 ] && [ "$minor" -ge 3 ]; }
}

what_to_do() {
  cat >&2 <<'MSG'
No Godot 4.3+ binary found. Either:
  - put a Godot 4.3 or later binary (a desktop, editor or Linux headless/server build from
    godotengine.org) on PATH as `godot`, or run again with GODOT=/path/to/godot; or
  - on a Debian/Ubuntu machine with apt-get and network access, run this script again:
    it fetches Debian's Godot 4 into ~/.cache/godot-websocket-server/ by itself.
MSG
}

if [ -n "${GODOT:-}" ]; then
  if ! { [ -x "$GODOT" ] || command -v "$GODOT" >/dev/null 2>&1; }; then
    say "GODOT=$GODOT is not an executable file"
    what_to_do
    exit 1
  fi
  if ! is_godot4 "$GODOT"; then
    say "GODOT=$GODOT is not Godot 4.3 or later (its --version printed '${version:-nothing}'); this addon needs Godot 4.3+"
    what_to_do
    exit 1
  fi
  echo "$GODOT"
  exit 0
fi

if command -v godot >/dev/null 2>&1 && is_godot4 "$(command -v godot)"; then
  command -v godot
  exit 0
fi

if [ -x "$bin" ] && is_godot4 "$bin"; then
  echo "$bin"
  exit 0
fi

if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ] || ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
  what_to_do
  exit 1
fi

say "no Godot 4 here: fetching Debian's Godot 4 (package godot from the unstable suite, about 160 MB) into $cache"
if ! command -v patchelf >/dev/null 2>&1; then
  say "installing patchelf (Debian package)"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends patchelf >/dev/null
fi

# shellcheck source=tools/debian-sid.sh
source "$(dirname "${BASH_SOURCE[0]}")/debian-sid.sh"
rm -rf "$cache/bin"
mkdir -p "$cache/bin"
sid_fetch "$root" amd64 godot

lib="$root/usr/lib/x86_64-linux-gnu"
cp "$root/usr/bin/godot" "$bin.tmp"
patchelf --set-interpreter "$root/usr/lib64/ld-linux-x86-64.so.2" --force-rpath \
  --set-rpath "$lib:$lib/pulseaudio" "$bin.tmp"
# libpulse carries a RUNPATH of its own that hides the binary's RPATH from it.
for so in "$lib"/libpulse.so.0.* "$lib"/libpulse-simple.so.0.*; do
  [ -f "$so" ] && patchelf --set-rpath '$ORIGIN/pulseaudio' "$so"
done
mv "$bin.tmp" "$bin"
if ! is_godot4 "$bin"; then
  say "the fetched engine does not run ($bin --headless --version printed '${version:-nothing}')"
  what_to_do
  exit 1
fi
say "Godot $version ready: $bin"
echo "$bin"
