//! Deployments with the proxies users run, started for real (Debian's nginx and HAProxy,
//! installed when missing) with the configurations in deploy/, in front of headless Godot
//! servers running godot-project/demo/room_server.tscn on our class, and real clients
//! (Python `websockets`) from a source address of their own (127.0.0.2).

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::engine::{self, Running, demo_project, free_port, root};
use common::relay::Relay;
use common::services::{debian_binary, fill, scratch_dir, wait_for_port};
use common::session::{Gone, SessionClient, hello};

/// A self-signed certificate for 127.0.0.1 and localhost: (cert path, key path).
fn certificate(dir: &Path) -> (String, String) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    (
        cert_path.display().to_string(),
        key_path.display().to_string(),
    )
}

/// A room server (godot-project/demo/room_server.tscn) with these arguments.
fn room_server(port: u16, args: &[&str]) -> Running {
    engine::addon();
    engine::prepare(&demo_project());
    let mut cmd = engine::command(&demo_project());
    cmd.args([
        "res://demo/room_server.tscn",
        "--",
        &format!("--port={port}"),
    ])
    .args(args);
    let mut server = Running::start(cmd);
    server.wait_line("LISTENING", Duration::from_secs(60));
    server
}

/// nginx in the foreground. Dropped, it is asked to stop (SIGTERM: the master ends its
/// workers) and waited for; killing the master outright left its workers running.
struct Nginx(Running);

impl Drop for Nginx {
    fn drop(&mut self) {
        let pid = self.0.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let _ = self.0.wait_exit(Duration::from_secs(10));
    }
}

fn nginx(dir: &Path, template: &str, values: &[(&str, String)]) -> Nginx {
    let bin = debian_binary("nginx", "nginx-light");
    let text = std::fs::read_to_string(root().join("deploy").join(template)).unwrap();
    let mut values = values.to_vec();
    values.push(("DIR", dir.display().to_string()));
    std::fs::write(dir.join("nginx.conf"), fill(&text, &values)).unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg(dir.join("error.log"));
    Nginx(Running::start(cmd))
}

fn json_field(line: &str, field: &str) -> String {
    let start = line.find(&format!("\"{field}\": ")).expect(field) + field.len() + 4;
    line[start..]
        .split([',', '}'])
        .next()
        .unwrap()
        .trim_matches('"')
        .to_string()
}

/// The checks of one player behind a proxy: the server sees 127.0.0.2 and the client's own
/// port, messages go both ways, and a close from either side reaches the other.
fn player_checks(url: &str, ca: &str, server: &mut Running) {
    for (how, code, reason) in [("close", "1000", "done"), ("kick", "4000", "bye")] {
        let out = engine::python_client("proxy_client.py", &[url, "127.0.0.2", ca, how]);
        let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(json_field(&line, "code"), code, "{line}");
        assert_eq!(json_field(&line, "reason"), reason, "{line}");
        let (id, port) = (json_field(&line, "id"), json_field(&line, "port"));
        server.wait_line(
            &format!("JOIN {id} lobby 127.0.0.2 {port}"),
            Duration::from_secs(5),
        );
        server.wait_line(
            &format!("LEAVE {id} clean=true code={code}"),
            Duration::from_secs(5),
        );
    }
}

#[test]
fn nginx_terminates_tls_in_front_of_a_godot_server() {
    let _serial = engine::serial();
    let dir = scratch_dir("nginx-tls");
    let (cert, key) = certificate(&dir);
    let (listen, backend) = (free_port(), free_port());
    let mut godot = room_server(backend, &["--name=A", "--trusted=127.0.0.1"]);
    let _nginx = nginx(
        &dir,
        "nginx-tls-termination.conf",
        &[
            ("LISTEN_PORT", listen.to_string()),
            ("BACKEND_PORT", backend.to_string()),
            ("CERT", cert.clone()),
            ("KEY", key),
        ],
    );
    wait_for_port(listen, Duration::from_secs(10));
    player_checks(&format!("wss://127.0.0.1:{listen}/play"), &cert, &mut godot);

    // Spoofing: a client that talks to the server directly, with its own
    // X-Forwarded-For, keeps its real address.
    let script = r#"
import asyncio, sys, websockets
async def main():
    async with websockets.connect(sys.argv[1], local_addr=("127.0.0.2", 0),
            additional_headers={"X-Forwarded-For": "1.2.3.4", "Forwarded": "for=1.2.3.4"}) as ws:
        await ws.recv()
        await ws.send("/whoami")
        print(await ws.recv())
asyncio.run(main())
"#;
    let out = Command::new(engine::python())
        .args(["-c", script, &format!("ws://127.0.0.1:{backend}/play")])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.starts_with("you are 127.0.0.2:"),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn haproxy_passes_tls_through_with_proxy_protocol_v2() {
    let _serial = engine::serial();
    let dir = scratch_dir("haproxy");
    let (cert, key) = certificate(&dir);
    let (listen, backend) = (free_port(), free_port());
    let mut godot = room_server(
        backend,
        &[
            "--name=A",
            "--proxy-protocol",
            "--trusted=127.0.0.1",
            &format!("--tls-key={key}"),
            &format!("--tls-cert={cert}"),
        ],
    );
    let bin = debian_binary("haproxy", "haproxy");
    let text = std::fs::read_to_string(root().join("deploy/haproxy-tls-passthrough.cfg")).unwrap();
    let config = fill(
        &text,
        &[
            ("LISTEN_PORT", listen.to_string()),
            ("BACKEND_PORT", backend.to_string()),
        ],
    );
    std::fs::write(dir.join("haproxy.cfg"), config).unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg("-f").arg(dir.join("haproxy.cfg")).arg("-db");
    let _haproxy = Running::start(cmd);
    wait_for_port(listen, Duration::from_secs(10));
    player_checks(&format!("wss://127.0.0.1:{listen}/play"), &cert, &mut godot);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two room servers, A and B (each with its `extra` arguments), behind nginx's room routing
/// (deploy/nginx-rooms.conf): nginx's port, the servers, nginx.
fn rooms_behind_nginx(dir: &Path, extra: [&[&str]; 2]) -> (u16, [Running; 2], Nginx) {
    let (listen, a_port, b_port) = (free_port(), free_port(), free_port());
    let start = |name: &str, port: u16, extra: &[&str]| {
        let name = format!("--name={name}");
        let mut args = vec![name.as_str(), "--trusted=127.0.0.1"];
        args.extend_from_slice(extra);
        room_server(port, &args)
    };
    let servers = [start("A", a_port, extra[0]), start("B", b_port, extra[1])];
    let proxy = nginx(
        dir,
        "nginx-rooms.conf",
        &[
            ("LISTEN_PORT", listen.to_string()),
            ("BACKEND_A", a_port.to_string()),
            ("BACKEND_B", b_port.to_string()),
        ],
    );
    wait_for_port(listen, Duration::from_secs(10));
    (listen, servers, proxy)
}

#[test]
fn two_godot_servers_behind_nginx_room_routing() {
    let _serial = engine::serial();
    let dir = scratch_dir("nginx-rooms");
    let stop_a = dir.join("stop-a");
    let stop = format!("--stop-file={}", stop_a.display());
    let (listen, [mut a, mut b], _nginx) = rooms_behind_nginx(&dir, [&[&stop], &[]]);
    let out = engine::python_client(
        "rooms_client.py",
        &[
            &format!("ws://127.0.0.1:{listen}/play"),
            "200",
            "20",
            &stop_a.display().to_string(),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\"phase\": 2"), "{text}");
    // Server A stopped and its process ended; B took its players.
    a.wait_line("STOPPING A", Duration::from_secs(5));
    let status = a.wait_exit(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "server A did not exit: {status:?}"
    );
    b.wait_line("JOIN", Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_session_behind_nginx_room_routing_returns_to_its_process_and_opens_nothing_elsewhere() {
    let _serial = engine::serial();
    let dir = scratch_dir("nginx-sessions");
    let (listen, mut servers, nginx) =
        rooms_behind_nginx(&dir, [&["--reconnect=10"], &["--reconnect=10"]]);
    let rt = common::client_runtime();
    // Client -> relay (cut by the test) -> nginx -> the room's server process.
    let relay = rt.block_on(Relay::start(listen));
    let mut c = rt.block_on(SessionClient::open(&format!("{}play?room=r1", relay.url())));
    let first_secret = c.welcome.session.clone();
    let greeting = text_of(rt.block_on(c.recv()).unwrap());
    let home = greeting.split_whitespace().nth(1).unwrap().to_string();
    assert_eq!(greeting, format!("welcome {home} {}", c.id()));
    relay.cut();
    assert_eq!(rt.block_on(c.recv()), Err(Gone::Broken));
    let w = rt
        .block_on(c.reconnect())
        .expect("back through nginx, to the same process");
    assert_eq!(w.id, c.id());
    let at_home = usize::from(home == "B");
    servers[at_home].wait_line(
        &format!("BACK {} {home} [\"r1\"]", w.id),
        Duration::from_secs(10),
    );
    // The secret presented in rooms that nginx routes to the other process opens nothing
    // there: a fresh session, a new peer, greeted by the other server.
    let mut elsewhere = None;
    for room in 0..40 {
        let url = format!(
            "ws://127.0.0.1:{listen}/play?room=q{room}&gws=2&gws_return={}",
            w.id
        );
        let hello = hello(&w.session, c.received());
        let (ws, welcome) = rt
            .block_on(SessionClient::dial_with(&url, Some(hello)))
            .expect("a welcome");
        if !welcome.resumed {
            let mut other = SessionClient::with_connection(&url, ws, welcome);
            elsewhere = Some(text_of(rt.block_on(other.recv()).unwrap()));
            assert_ne!(other.id(), w.id);
            break;
        }
    }
    let greeting = elsewhere.expect("some room is routed to the other process");
    assert!(
        !greeting.starts_with(&format!("welcome {home} ")),
        "{greeting}"
    );
    // nginx's access log (its default format, request lines with their queries) has
    // every upgrade and no secret.
    rt.block_on(c.close());
    drop(nginx);
    let log = std::fs::read_to_string(dir.join("access.log")).unwrap();
    assert!(log.contains("GET /play?room=r1&gws=2&gws_return="), "{log}");
    for secret in [&first_secret, &w.session] {
        assert!(
            !log.contains(secret.as_str()),
            "a secret in nginx's log: {log}"
        );
    }
    println!(
        "nginx's access log, {} lines, no secret:\n{log}",
        log.lines().count()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn text_of(msg: tokio_tungstenite::tungstenite::Message) -> String {
    msg.into_text().unwrap().to_string()
}
