#!/usr/bin/env bash
# Sourced, not run: fetches packages of Debian's unstable suite (sid) and their
# dependencies into a folder of their own, without installing anything on this machine:
# a private apt state, `apt-get install --download-only`, `dpkg -x` of every package.
# tools/godot.sh (the engine) and tools/cross.sh (other platforms' toolchains and engines)
# use it.
#
#   sid_fetch [--add] [--no-deps] ROOT ARCHES PACKAGE...
#     ROOT       the folder every package is unpacked into (made anew, unless --add)
#     ARCHES     the architectures apt may pick, e.g. "amd64" or "amd64,arm64"
#                (name a package of another one as godot:arm64)
#     --add      unpack into ROOT as it is (e.g. a package beside an engine fetched before)
#     --no-deps  the packages named alone, not their dependencies

# The mirror this machine's apt already uses.
sid_mirror() {
  local mirror="" f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    mirror="$(awk '/^URIs:/ { print $2; exit }' "$f")"
    [ -n "$mirror" ] && break
  done
  if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
    mirror="$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' /etc/apt/sources.list)"
  fi
  echo "${mirror:-http://deb.debian.org/debian}"
}

sid_fetch() {
  local add="" deps=1
  while :; do
    case "$1" in
      --add) add=1 ;;
      --no-deps) deps="" ;;
      *) break ;;
    esac
    shift
  done
  local root="$1" arches="$2"
  shift 2
  local work="$root.apt" arch deb
  rm -rf "$work"
  [ -n "$add" ] || rm -rf "$root"
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$root"
  echo "deb [arch=$arches] $(sid_mirror) sid main" > "$work/sources.list"
  : > "$work/status"
  local opts=(-o Dir::Etc::sourcelist="$work/sources.list" -o Dir::Etc::sourceparts=-
    -o Dir::State::Lists="$work/lists" -o Dir::State::status="$work/status"
    -o Dir::Cache="$work/cache" -o APT::Install-Recommends=0 -o Debug::NoLocking=1
    -o APT::Sandbox::User=root)
  IFS=, read -ra arch <<< "$arches"
  opts+=(-o APT::Architecture="${arch[0]}")
  for a in "${arch[@]}"; do opts+=(-o APT::Architectures::="$a"); done
  apt-get "${opts[@]}" -qq update >&2
  if [ -n "$deps" ]; then
    apt-get "${opts[@]}" -qq install -y --download-only "$@" >&2
  else
    (cd "$work/cache/archives" && apt-get "${opts[@]}" -qq download "$@" >&2)
  fi
  for deb in "$work"/cache/archives/*.deb; do dpkg -x "$deb" "$root"; done
  rm -rf "$work"
}
