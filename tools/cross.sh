#!/usr/bin/env bash
# Sourced, not run: builds the extension library for another platform from this Linux
# x86_64 machine (tools/build-addon.sh --all and --platform use it).
#
#   cross_build PLATFORM OUT   builds PLATFORM's library (release, stripped) into file OUT
#
# PLATFORM is one of linux-arm64, windows-x86_64, macos-universal. What each needs is
# fetched on first use, and said on the console:
#   - the Rust standard library's source, Debian sid's `rust-src` package, unpacked into
#     ~/.cache/godot-websocket-server/cross/ and linked into the nightly toolchain (as
#     `rustup component add rust-src` would), so that `cargo +nightly -Zbuild-std` builds
#     std for any target (rustup cannot add targets on a machine without its server);
#   - the linkers, from Debian's packages: mingw-w64 (Windows), the aarch64 cross gcc
#     (Linux arm64);
#   - zig and cargo-zigbuild (macOS linker) and lief (reads what was built, for
#     tools/check-libs.py), from PyPI into a virtualenv in the cache;
#   - rcodesign (crates.io package apple-codesign) to sign the macOS library ad hoc, built
#     into the cache; llvm-lipo and llvm-strip from Debian's llvm-14.
# The builds go to a target folder in the cache, so the host build in ./target is left
# alone and a second build only compiles what changed.

cross_cache="${XDG_CACHE_HOME:-$HOME/.cache}/godot-websocket-server/cross"

cross_say() { echo "cross: $*" >&2; }

cross_need_nightly() {
  if ! rustc +nightly --version >/dev/null 2>&1; then
    cross_say "no nightly Rust toolchain (rustup toolchain list); building other platforms needs one for -Zbuild-std"
    return 1
  fi
}

# The standard library's source where the nightly toolchain looks for it.
cross_ensure_rust_src() {
  local sysroot link src
  sysroot="$(rustc +nightly --print sysroot)"
  link="$sysroot/lib/rustlib/src/rust"
  [ -f "$link/library/std/Cargo.toml" ] && return 0
  src="$(ls -d "$cross_cache"/rust-src/usr/src/rustc-* 2>/dev/null | tail -n 1 || true)"
  if [ -z "$src" ]; then
    cross_say "fetching the Rust standard library's source (Debian sid package rust-src, about 46 MB) into $cross_cache/rust-src"
    # shellcheck source=tools/debian-sid.sh
    source "$(dirname "${BASH_SOURCE[0]}")/debian-sid.sh"
    sid_fetch "$cross_cache/rust-src" amd64 rust-src
    src="$(ls -d "$cross_cache"/rust-src/usr/src/rustc-* | tail -n 1)"
  fi
  cross_say "linking $src as the nightly toolchain's rust-src ($link)"
  mkdir -p "$(dirname "$link")"
  ln -sfn "$src" "$link"
}

# Debian packages (installed system-wide, as the tests install their clients).
cross_ensure_apt() {
  local cmd="$1"
  shift
  command -v "$cmd" >/dev/null 2>&1 && return 0
  cross_say "installing $* (Debian packages) for $cmd"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# rcodesign (crates.io package apple-codesign) signs Mach-O files ad hoc from Linux.
cross_ensure_rcodesign() {
  [ -x "$cross_cache/rcodesign/bin/rcodesign" ] && return 0
  cross_say "building rcodesign (crates.io package apple-codesign, without its notarization parts; about 2 minutes, once) into $cross_cache/rcodesign"
  # A debug build: it compiles in a quarter of the time and signs the library in 0.1 s.
  cargo install --quiet --locked --debug --no-default-features apple-codesign --root "$cross_cache/rcodesign"
}

cross_ensure_venv() {
  [ -x "$cross_cache/venv/bin/cargo-zigbuild" ] && "$cross_cache/venv/bin/python" -c "import lief" 2>/dev/null && return 0
  cross_say "fetching zig, cargo-zigbuild and lief (PyPI packages ziglang, cargo-zigbuild, lief, about 80 MB) into $cross_cache/venv"
  rm -rf "$cross_cache/venv"
  python3 -m venv "$cross_cache/venv"
  "$cross_cache/venv/bin/pip" install --quiet --disable-pip-version-check ziglang cargo-zigbuild lief
}

# Exports what cargo needs to build for PLATFORM (linker, C compiler for ring, archiver)
# and sets cross_triple; installs the linker when missing.
cross_env() {
  cross_need_nightly || return 1
  # Run from a test (tests/it/platforms.rs), cargo's variables for that test are set; ring's
  # build script watches CARGO_MANIFEST_DIR, so a build from the shell after one from a test
  # would compile everything again.
  unset CARGO_MANIFEST_DIR CARGO_PKG_NAME CARGO_PKG_VERSION CARGO_PRIMARY_PACKAGE CARGO_TARGET_TMPDIR
  cross_ensure_rust_src
  export CARGO_PROFILE_RELEASE_STRIP=symbols
  case "$1" in
    linux-arm64)
      cross_triple=aarch64-unknown-linux-gnu
      cross_ensure_apt aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu libc6-dev-arm64-cross
      export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
        CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
      ;;
    windows-x86_64)
      cross_triple=x86_64-pc-windows-gnu
      cross_ensure_apt x86_64-w64-mingw32-gcc gcc-mingw-w64-x86-64
      export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc \
        CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc AR_x86_64_pc_windows_gnu=x86_64-w64-mingw32-ar
      ;;
    macos-universal)
      # Built one architecture at a time (each has its own minimum macOS), then joined.
      cross_triple=""
      cross_ensure_venv
      cross_ensure_apt llvm-lipo-14 llvm-14
      cross_ensure_rcodesign
      export PATH="$cross_cache/venv/bin:$PATH"
      # The install name a shipped library carries.
      # zig's Mach-O linker ignores the exported-symbols list rustc passes, so every Rust
      # symbol (std's too: -Zbuild-std takes RUSTFLAGS) is made hidden, leaving the entry point
      # the one export, as on the other platforms.
      export RUSTFLAGS="-C link-arg=-Wl,-install_name,@rpath/libgodot_websocket_server.dylib -Zdefault-visibility=hidden"
      ;;
    *)
      cross_say "unknown platform $1 (linux-arm64, windows-x86_64, macos-universal)"
      return 1
      ;;
  esac
}

# The cargo arguments every cross build shares (the standard library built from source,
# release, the cache's target folder).
cross_cargo_args=(-Zbuild-std=std,panic_unwind --release --target-dir "$cross_cache/target")

# One macOS file for Intel and Apple silicon: each architecture built with its own minimum
# macOS (Godot 4's: 10.13 on Intel, 11.0 on Apple silicon), local symbols stripped, joined
# with lipo, and signed ad hoc (Apple silicon loads only signed code; the linker's own
# signature would not survive the strip).
cross_build_macos() {
  local out="$1" dir="$cross_cache/target/macos" arch triple
  mkdir -p "$dir"
  for arch in x86_64 aarch64; do
    triple="$arch-apple-darwin"
    if [ "$arch" = x86_64 ]; then export MACOSX_DEPLOYMENT_TARGET=10.13; else export MACOSX_DEPLOYMENT_TARGET=11.0; fi
    cargo +nightly zigbuild "${cross_cargo_args[@]}" --lib --target "$triple"
    llvm-strip-14 -x -o "$dir/$arch.dylib" "$cross_cache/target/$triple/release/libgodot_websocket_server.dylib"
  done
  llvm-lipo-14 -create -output "$dir/libgodot_websocket_server.dylib" "$dir/x86_64.dylib" "$dir/aarch64.dylib"
  "$cross_cache/rcodesign/bin/rcodesign" sign --binary-identifier libgodot_websocket_server \
    "$dir/libgodot_websocket_server.dylib" >&2
  cp "$dir/libgodot_websocket_server.dylib" "$out"
}

cross_build() {
  local platform="$1" out="$2" built
  mkdir -p "$(dirname "$out")"
  (
    cross_env "$platform"
    if [ "$platform" = macos-universal ]; then
      cross_build_macos "$out"
    elif [ "$platform" = windows-x86_64 ]; then
      # GNU ld cannot drop unused code from a PE file: its script keeps every .pdata
      # section, and each function's unwind data there keeps the function (the DLL was
      # 20.9 MB against 5.1 MB on Linux; Debian's mingw gcc always links with GNU ld).
      # Thin LTO drops what the library never calls before the linker sees it; cargo
      # applies LTO only to a crate that is not also an rlib, hence the library alone.
      CARGO_PROFILE_RELEASE_LTO=thin cargo +nightly rustc "${cross_cargo_args[@]}" --lib --crate-type cdylib --target "$cross_triple"
    else
      cargo +nightly build "${cross_cargo_args[@]}" --lib --target "$cross_triple"
    fi
  )
  case "$platform" in
    linux-arm64) built=aarch64-unknown-linux-gnu/release/libgodot_websocket_server.so ;;
    windows-x86_64) built=x86_64-pc-windows-gnu/release/godot_websocket_server.dll ;;
    macos-universal) return 0 ;;
  esac
  cp "$cross_cache/target/$built" "$out"
}
