#!/usr/bin/env bash
# Prints the path of the Godot 4 binary: $GODOT, else `godot` on PATH. Exits 1 with
# what to do when there is none.
if [ -n "${GODOT:-}" ]; then
  if [ -x "$GODOT" ] || command -v "$GODOT" >/dev/null 2>&1; then echo "$GODOT"; exit 0; fi
  echo "GODOT=$GODOT is not an executable Godot binary" >&2
  exit 1
fi
if command -v godot >/dev/null 2>&1; then command -v godot; exit 0; fi
cat >&2 <<'MSG'
No Godot 4 binary found. Download Godot 4.3 or later (a desktop build or a Linux
headless/server build) from godotengine.org, then either put it on PATH as `godot`
or run again with GODOT=/path/to/godot.
MSG
exit 1
