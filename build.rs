//! Build script: checks that the addon's `.gdextension` file points at the library
//! this crate builds, so that a renamed crate or a typo in the file fails the build
//! here instead of failing to load in the engine later.

use std::path::Path;

fn main() {
    let file = Path::new("addons/websocket_server/websocket_server.gdextension");
    println!("cargo:rerun-if-changed={}", file.display());
    println!("cargo:rerun-if-changed=build.rs");
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => panic!("cannot read {}: {e}", file.display()),
    };
    let lib = std::env::var("CARGO_CRATE_NAME").unwrap_or_else(|_| "godot_websocket_server".into());
    assert!(
        text.contains("entry_symbol = \"gdext_rust_init\""),
        "{}: entry_symbol must be \"gdext_rust_init\" (gdext's entry point)",
        file.display()
    );
    for needle in [
        format!("lib{lib}.so"),
        format!("{lib}.dll"),
        format!("lib{lib}.dylib"),
    ] {
        assert!(
            text.contains(&needle),
            "{}: no library entry names {needle}; it must match the crate's library name",
            file.display()
        );
    }
}
