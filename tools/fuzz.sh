#!/usr/bin/env bash
# Runs the cargo-fuzz targets (fuzz/fuzz_targets/) with libFuzzer on the nightly
# toolchain: the HTTP upgrade parser, and what a real connection does with arbitrary bytes
# after the upgrade. Each starts from the seeds in fuzz/seeds/<target> (kept in git) plus
# the corpus grown by earlier runs (fuzz/corpus/<target>, not in git). A crash fails the
# run; its input lands in fuzz/artifacts/<target>/ (turn it into a regression test).
#   bash tools/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
# The sanitizer build is kept outside the clone (as the cross builds are), so CI on a clean
# clone does not rebuild it from scratch every time.
target_dir="${HOME}/.cache/godot-websocket-server/fuzz-target"
for target in upgrade_request connection_bytes compressed_frames tls_records; do
  mkdir -p "fuzz/corpus/$target"
  cargo +nightly fuzz run --target-dir "$target_dir" "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 2> "fuzz/$target.log" \
    || { tail -n 60 "fuzz/$target.log"; echo "fuzz: $target failed: a crash (input in fuzz/artifacts/$target/) or a build error (above)"; exit 1; }
  runs=$(awk '/stat::number_of_executed_units/ { print $2 }' "fuzz/$target.log")
  cov=$(grep -oE 'cov: [0-9]+' "fuzz/$target.log" | tail -n 1)
  echo "fuzz: $target: $runs inputs in ${seconds} s, $cov, no crash"
done
