#!/usr/bin/env bash
# The book's class reference (docs/src/reference/), from the documentation Godot writes for
# the addon's classes: the library's own XML help (what the editor's F1 shows, from the Rust
# doc comments: examples/class_docs.rs) merged by `godot --doctool DIR --gdextension-docs`
# into Godot's skeleton of the classes as ClassDB has them (every method, property, signal
# and constant, with their signatures and defaults), then tools/class-reference.py. --check only checks that every method, property, signal and
# constant has a description (exit 1 and a list if not).
# OUT_DIR writes the pages there instead (the test compares them with the book's).
#   bash tools/class-reference.sh [--check | OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
godot="$(bash tools/godot.sh)"
bash tools/build-addon.sh > /dev/null
bash tools/prepare-project.sh godot-project
xml="$(mktemp -d)"
trap 'rm -rf "$xml"' EXIT
cargo run -q --example class_docs -- "$xml/doc_classes" > /dev/null
# The editor plugin that refreshes the help is internal: not in ClassDB, not documented.
rm -f "$xml/doc_classes/WebSocketServerHelpRefresh.xml"
GDRUST_SUPPRESSED_WARNINGS=RegisterDocsInExport \
  "$godot" --headless --path godot-project --doctool "$xml" --gdextension-docs > "$xml/log" 2>&1 || {
  cat "$xml/log" >&2
  echo "class-reference: godot --doctool failed" >&2
  exit 1
}
if [ "${1:-}" = "--check" ]; then
  exec python3 tools/class-reference.py --check "$xml/doc_classes"
fi
out="${1:-docs/src/reference}"
python3 tools/class-reference.py "$xml/doc_classes" "$out"
echo "class-reference: $out written"
