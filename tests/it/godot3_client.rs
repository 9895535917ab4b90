//! A real Godot client against the server core: Godot 3's WebSocketClient (Debian's
//! godot3-server, installed by tools/setup-clients.sh), from tests/godot3/. Compression is
//! on: Godot 3's client offers none, so its connection goes on uncompressed.

use crate::common;

use std::path::PathBuf;
use std::process::Command;
use std::thread;

use common::*;
use godot_websocket_server::core::Event;

#[test]
fn godot3_websocketclient_round_trip_and_server_close() {
    let mut server = listening(&["chat"], |s| {
        s.configure(|c| c.connections.compression_enabled = true)
            .unwrap()
    });
    let project = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/godot3");
    let data_home = std::env::temp_dir().join(format!("gws-godot3-{}", std::process::id()));
    std::fs::create_dir_all(&data_home).unwrap();
    let url = url(&server);
    let child = thread::spawn(move || {
        Command::new("godot3-server")
            .arg("--path")
            .arg(&project)
            .env("WS_URL", url)
            .env("XDG_DATA_HOME", &data_home)
            .env("LANG", "C.UTF-8")
            .output()
            .expect("run godot3-server (tools/setup-clients.sh installs it)")
    });
    let mut log = Vec::new();
    echo_until(&mut server, &mut log, 30, |l| {
        count(l, |e| matches!(e, Event::Message { .. })) == 2
    });
    let id = connected_ids(&log)[0];
    assert_eq!(
        log[0],
        Event::Connected {
            id,
            protocol: "chat".into()
        }
    );
    assert!(!server.peer(id).unwrap().is_compressed());
    server.disconnect_peer(id, 4000, "bye").unwrap();
    poll_until(&mut server, &mut log, 30, |l| {
        l.iter().any(|e| matches!(e, Event::Disconnected { .. }))
    });
    let out = child.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "Godot 3 client failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("godot3 client: ok"), "{stdout}");
    assert_eq!(
        log.last().unwrap(),
        &Event::Disconnected {
            id,
            was_clean: true
        }
    );
}
