//! The addon's session clients against a headless Godot server on our class
//! (`reconnect_grace_period` on): the GDScript `WebSocketSessionClient` in a second headless
//! Godot, `websocket_session.js` in headless Chromium, and a Python client written from
//! the book's protocol page (docs/src/reconnection.md) alone. Each goes through a TCP relay that the test cuts for real (a
//! reset both ways) every 600 ms while it sends, or blackholes every 4 s (nothing more
//! forwarded, nothing closed: the clients must see the silence themselves); every message
//! must arrive once, in order, both ways, as the same peer.

use crate::common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use common::engine::{self, Running};
use common::relay::Relay;

const COUNT: usize = 2000;

/// How the test breaks the clients' links.
#[derive(Clone, Copy)]
enum Break {
    /// A reset both ways.
    Cut,
    /// A blackhole: the link goes silent, nothing is closed.
    Silence,
}

/// Breaks every connection through `relay` every `every` until `done`; how many times.
fn keep_cutting(
    rt: &tokio::runtime::Runtime,
    relay: Arc<Relay>,
    every: Duration,
    how: Break,
    done: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<usize> {
    rt.spawn(async move {
        let mut cuts = 0;
        // Once the client is connected (a cut before its first welcome ends it).
        while relay.live.load(Ordering::SeqCst) == 0 && !done.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(every).await;
        while !done.load(Ordering::SeqCst) {
            match how {
                Break::Cut => relay.cut(),
                Break::Silence => relay.freeze(),
            }
            cuts += 1;
            tokio::time::sleep(every).await;
        }
        cuts
    })
}

#[test]
fn session_clients_of_three_kinds_survive_cuts_against_a_godot_server() {
    three_kinds(Break::Cut, Duration::from_millis(600), COUNT);
}

/// The server's keepalive (every `heartbeat_interval`, 1 s here) lets each client see a
/// silent link as dead after 3 s, and come back by itself; a return caught in a blackhole
/// before its welcome is given up after 5 s and tried again.
#[test]
fn session_clients_of_three_kinds_see_a_silent_link_and_come_back() {
    three_kinds(Break::Silence, Duration::from_secs(6), 3 * COUNT);
}

fn three_kinds(how: Break, every: Duration, count: usize) {
    let _serial = engine::serial();
    engine::addon();
    let project = engine::demo_project();
    engine::prepare(&project);
    let mut cmd = engine::command(&project);
    cmd.args(["--script", "res://tests/session/session_server.gd"])
        .env("GWS_PORT", "0")
        .env("GWS_SECONDS", "170");
    let mut server = Running::start(cmd);
    let line = server.wait_line("LISTENING", Duration::from_secs(60));
    let port: u16 = line.split_whitespace().last().unwrap().parse().unwrap();
    let rt = common::client_runtime();
    let relays: Vec<Arc<Relay>> = (0..3)
        .map(|_| Arc::new(rt.block_on(Relay::start(port))))
        .collect();
    let done = Arc::new(AtomicBool::new(false));
    let cutters: Vec<_> = relays
        .iter()
        .map(|r| keep_cutting(&rt, r.clone(), every, how, done.clone()))
        .collect();

    // The GDScript client in its own headless Godot.
    let godot_url = relays[0].url();
    let godot = thread::spawn(move || {
        let mut cmd = engine::command(&engine::demo_project());
        cmd.env("GWS_URL", godot_url)
            .env("GWS_COUNT", count.to_string());
        engine::run_script_with(
            cmd,
            &engine::demo_project(),
            "res://tests/session/session_client.gd",
        )
    });
    // The Python client.
    let python_url = relays[1].url();
    let python = thread::spawn(move || {
        engine::python_client("session_client.py", &[&python_url, &count.to_string()])
    });
    // The JavaScript module in Chromium.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let browser_dir = root.join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run `bash tools/setup-clients.sh`"
    );
    let module = root.join("addons/websocket_server/clients/websocket_session.js");
    let js_url = relays[2].url();
    let browser = thread::spawn(move || {
        Command::new("node")
            .arg(browser_dir.join("session.mjs"))
            .args([js_url, count.to_string(), module.display().to_string()])
            .output()
            .expect("run node")
    });

    let godot = godot.join().unwrap();
    let python = python.join().unwrap();
    let browser = browser.join().unwrap();
    done.store(true, Ordering::SeqCst);
    let cuts: Vec<usize> = cutters
        .into_iter()
        .map(|c| rt.block_on(c).unwrap())
        .collect();
    let js = String::from_utf8_lossy(&browser.stdout).to_string();
    println!("browser: {js}{}", String::from_utf8_lossy(&browser.stderr));
    println!("links broken per client (GDScript, Python, JavaScript): {cuts:?}");
    assert!(browser.status.success(), "the JavaScript client failed");
    assert!(
        js.contains(r#""inOrder":true"#) && js.contains(r#""sameId":true"#),
        "{js}"
    );
    assert!(godot.stdout.contains("SESSION moments"), "{}", godot.stdout);
    let py = String::from_utf8_lossy(&python.stdout).to_string();
    assert!(
        !py.contains(r#""backs": 0"#),
        "the Python client came back at least once: {py}"
    );
    for c in &cuts {
        assert!(*c >= 2, "each client's link was cut: {cuts:?}");
    }
    // The server saw every number once and in order, from three clients that never
    // became new peers.
    for _ in 0..3 {
        server.wait_new_line("END", Duration::from_secs(30));
    }
    thread::sleep(Duration::from_millis(500));
    let lines = server.lines_so_far().to_vec();
    let starting = |word: &str| lines.iter().filter(|l| l.starts_with(word)).count();
    assert_eq!(starting("WRONG"), 0, "{lines:#?}");
    assert_eq!(starting("CONNECTED "), 3, "never a new peer: {lines:#?}");
    assert!(starting("BACK ") >= 6, "{lines:#?}");
    // Every cut before a client's end was followed by its return (a cut after its last
    // answer, while it closes, may leave it away: it has nothing left to come back for).
    for end in lines.iter().filter(|l| l.starts_with("END ")) {
        let id = end.split(' ').nth(1).expect("END id count");
        let before: Vec<&String> = lines.iter().take_while(|l| *l != end).collect();
        let moments = |word: &str| {
            let prefix = format!("{word} {id} ");
            before.iter().filter(|l| l.starts_with(&prefix)).count()
        };
        assert_eq!(moments("AWAY"), moments("BACK"), "{id}: {lines:#?}");
    }
    // The handlers see the peer as of their event: away in client_away (both ways of
    // asking), back in client_back and still in its group, whatever the network did
    // since poll() took the events.
    for line in lines.iter().filter(|l| l.starts_with("AWAY ")) {
        assert!(line.ends_with(" true true"), "{line}");
    }
    for line in lines.iter().filter(|l| l.starts_with("BACK ")) {
        assert!(line.ends_with(" false false players"), "{line}");
    }
}
