//! The book (`docs/`): its class reference is complete and current, it builds with mdBook,
//! every internal link and anchor holds (README's into it too), and its pages render in
//! headless Chromium.

use crate::common;

use std::process::Command;

use common::engine::{self, root};

fn run(what: &str, cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("--- {what}\n{stdout}\n{stderr}");
    assert!(out.status.success(), "{what} failed:\n{stdout}\n{stderr}");
    stdout
}

/// Every method, property, signal and constant of both classes, as ClassDB lists them in
/// the engine, has a description, and the book's reference pages are what the doc
/// comments make now (`bash tools/class-reference.sh` rewrites them).
#[test]
fn every_member_is_described_and_the_reference_is_current() {
    let _serial = engine::serial();
    engine::addon();
    let tool = root().join("tools/class-reference.sh");
    let checked = run(
        "class-reference.sh --check",
        Command::new("bash")
            .arg(&tool)
            .arg("--check")
            .env("GODOT", engine::godot()),
    );
    assert!(checked.contains("every one of"), "{checked}");
    let fresh = std::env::temp_dir().join(format!("gws-reference-{}", std::process::id()));
    run(
        "class-reference.sh OUT_DIR",
        Command::new("bash")
            .arg(&tool)
            .arg(&fresh)
            .env("GODOT", engine::godot()),
    );
    for class in ["WebSocketServer", "WebSocketServerPeer"] {
        let made = std::fs::read_to_string(fresh.join(format!("{class}.md"))).unwrap();
        let kept = std::fs::read_to_string(root().join(format!("docs/src/reference/{class}.md")))
            .unwrap_or_default();
        assert!(
            made == kept,
            "docs/src/reference/{class}.md is out of date: run `bash tools/class-reference.sh`"
        );
    }
    let _ = std::fs::remove_dir_all(&fresh);
}

/// `mdbook build docs` with the link check, then the home page, a chapter and a reference
/// page in Chromium (screenshots in `target/test-artifacts/book-*.png`).
#[test]
fn the_book_builds_its_links_hold_and_it_renders() {
    let checked = run(
        "tools/book.sh",
        Command::new("bash").arg(root().join("tools/book.sh")),
    );
    assert!(checked.contains("every internal one reaches"), "{checked}");
    let artifacts = root().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let browser = root().join("tests/browser");
    assert!(
        browser.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run `bash tools/setup-clients.sh`"
    );
    let seen = run(
        "book.mjs",
        Command::new("node")
            .arg(browser.join("book.mjs"))
            .arg(root().join("docs/book"))
            .arg(&artifacts),
    );
    assert!(seen.contains(r#""h1":"godot-websocket-server""#), "{seen}");
    assert!(seen.contains(r#""h1":"Reconnection""#), "{seen}");
    assert!(seen.contains(r#""h1":"WebSocketServer""#), "{seen}");
    for page in ["home", "chapter", "reference"] {
        let png = std::fs::read(artifacts.join(format!("book-{page}.png"))).unwrap();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 10_000,
            "book-{page}.png"
        );
    }
}
