#!/usr/bin/env bash
# Builds the book (docs/ -> docs/book/) with mdBook and checks its links and anchors, and
# README's links into it (tools/check-book.py). mdBook (crates.io `mdbook`, the version
# below) is built once into ~/.cache/godot-websocket-server/mdbook/ when it is not on PATH.
#   bash tools/book.sh            then open docs/book/index.html
set -euo pipefail
cd "$(dirname "$0")/.."
version=0.5.4
cache="${XDG_CACHE_HOME:-$HOME/.cache}/godot-websocket-server/mdbook"
mdbook="$cache/bin/mdbook"
if command -v mdbook > /dev/null 2>&1 && mdbook --version | grep -q "v$version"; then
  mdbook="$(command -v mdbook)"
elif [ ! -x "$mdbook" ]; then
  echo "book: building mdBook $version once into $cache (about 3 minutes)" >&2
  cargo install mdbook --version "$version" --locked --root "$cache" >&2
fi
"$mdbook" build docs >&2
python3 tools/check-book.py docs/book
