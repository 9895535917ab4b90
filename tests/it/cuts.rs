//! Cuts on a real network (tests/common/badnet.rs: a client in a network namespace of its
//! own, joined by veth): a client blackholed by nftables (no FIN, no RST: what a NAT that
//! forgot the connection does) is found dead within two heartbeat intervals; a link set
//! down and up again inside the heartbeat window loses nothing; a half-open connection
//! holds its connection slot no longer than the heartbeat allows. Over ws and wss.

use crate::common;

use std::time::{Duration, Instant};

use common::badnet::{BadNet, profile};
use common::*;
use godot_websocket_server::core::{Event, Server};

/// One test at a time: the timings are the heartbeat's, not the scheduler's.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A client that sends "N" every 20 ms for SECS seconds and checks each echo, in order;
/// then "end", and exits 0 after its "end" came back. Prints "open" once connected.
/// `wss` URLs are not verified (the test's own certificate).
const STEADY: &str = r#"
import asyncio, ssl, sys, time, websockets

async def main(url, secs):
    context = None
    if url.startswith("wss"):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    async with websockets.connect(url, ssl=context, ping_interval=None, open_timeout=30) as ws:
        print("open", flush=True)
        sent, got = 0, 0
        async def reader():
            nonlocal got
            async for m in ws:
                if m == "end":
                    return
                assert m == str(got), (m, got)
                got += 1
        task = asyncio.create_task(reader())
        end = time.monotonic() + secs
        while time.monotonic() < end:
            await ws.send(str(sent))
            sent += 1
            await asyncio.sleep(0.02)
        await ws.send("end")
        await asyncio.wait_for(task, 30)
        assert got == sent, (got, sent)
        print(f"sent {sent} got {got}", flush=True)

asyncio.run(main(sys.argv[1], float(sys.argv[2])))
"#;

/// Starts the steady client in the namespace of `net` for `secs` seconds.
fn steady(net: &BadNet, url: &str, secs: f64) -> std::process::Child {
    net.command(python())
        .arg("-c")
        .arg(STEADY)
        .args([url.to_string(), secs.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python in the namespace")
}

/// A wss server with the test's own certificate, configured by `f`.
fn tls_server(f: impl FnOnce(&mut Server)) -> Server {
    let chain = common::certs::chain();
    let tls = godot_websocket_server::core::TlsConfig::from_pem(
        &chain.leaf_pem,
        &chain.leaf_key_pem,
        None,
    )
    .unwrap();
    listening(&[], |s| {
        s.configure(|c| c.connections.tls = Some(tls)).unwrap();
        f(s);
    })
}

/// A server with this heartbeat (wss when `tls`), behind the broadband network, and the
/// steady client in it for `secs` seconds.
struct Cut {
    _rt: tokio::runtime::Runtime,
    server: Server,
    net: BadNet,
    client: std::process::Child,
}

fn cut_setup(tls: bool, heartbeat: Duration, secs: f64) -> Cut {
    let rt = client_runtime();
    let setup = |s: &mut Server| {
        s.configure(|c| c.connections.heartbeat_interval = heartbeat)
            .unwrap()
    };
    let server = if tls {
        tls_server(setup)
    } else {
        listening(&[], setup)
    };
    let target = ([127, 0, 0, 1], server.local_port()).into();
    let net = rt.block_on(BadNet::new(profile("broadband"), target));
    let url = net
        .url()
        .replacen("ws://", if tls { "wss://" } else { "ws://" }, 1);
    let client = steady(&net, &url, secs);
    Cut {
        _rt: rt,
        server,
        net,
        client,
    }
}

fn blackholed_client_is_found_dead(tls: bool) {
    let _serial = serial();
    let interval = Duration::from_millis(500);
    let Cut {
        _rt,
        mut server,
        net,
        mut client,
    } = cut_setup(tls, interval, 60.0);
    let mut log = Vec::new();
    echo_until(&mut server, &mut log, 15, |l| {
        count(l, |e| matches!(e, Event::Message { .. })) >= 20
    });
    net.blackhole();
    let cut = Instant::now();
    echo_until(&mut server, &mut log, 10, |l| {
        l.iter().any(|e| matches!(e, Event::Disconnected { .. }))
    });
    let found = cut.elapsed();
    let _ = client.kill();
    let _ = client.wait();
    println!(
        "blackholed {} client found dead after {found:?} (heartbeat {interval:?})",
        if tls { "wss" } else { "ws" }
    );
    assert!(log.iter().any(|e| matches!(
        e,
        Event::Disconnected {
            was_clean: false,
            ..
        }
    )));
    // Two intervals without anything, found at the next check: at most a third one late,
    // and room for a loaded machine (without the heartbeat: TCP's timeout, minutes).
    assert!(found <= interval * 3 + Duration::from_secs(1), "{found:?}");
}

#[test]
fn a_blackholed_client_is_found_dead_within_two_heartbeats() {
    blackholed_client_is_found_dead(false);
}

#[test]
fn a_blackholed_wss_client_is_found_dead_within_two_heartbeats() {
    blackholed_client_is_found_dead(true);
}

fn link_down_and_up_loses_nothing(tls: bool) {
    let _serial = serial();
    let Cut {
        _rt,
        mut server,
        net,
        client,
    } = cut_setup(tls, Duration::from_secs(2), 6.0);
    let mut log = Vec::new();
    echo_until(&mut server, &mut log, 15, |l| {
        count(l, |e| matches!(e, Event::Message { .. })) >= 50
    });
    // Down for 1 s, inside the 4 s the heartbeat allows.
    net.link(false);
    let down = Instant::now();
    echo_until(&mut server, &mut log, 5, |_| {
        down.elapsed() >= Duration::from_secs(1)
    });
    net.link(true);
    echo_until(&mut server, &mut log, 30, |l| {
        l.iter().any(|e| matches!(e, Event::Disconnected { .. }))
    });
    let out = client.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    println!(
        "link down 1 s and up ({}): {last}",
        if tls { "wss" } else { "ws" }
    );
    assert!(log.iter().any(|e| matches!(
        e,
        Event::Disconnected {
            was_clean: true,
            ..
        }
    )));
}

#[test]
fn a_link_down_and_up_inside_the_heartbeat_window_loses_nothing() {
    link_down_and_up_loses_nothing(false);
}

#[test]
fn a_wss_link_down_and_up_inside_the_heartbeat_window_loses_nothing() {
    link_down_and_up_loses_nothing(true);
}

#[test]
fn a_half_open_connection_holds_its_slot_no_longer_than_the_heartbeat_allows() {
    let _serial = serial();
    let rt = client_runtime();
    let interval = Duration::from_millis(500);
    let mut server = listening(&[], |s| {
        s.configure(|c| c.connections.heartbeat_interval = interval)
            .unwrap();
        s.configure(|c| c.live.max_connections = 1).unwrap();
    });
    let target = ([127, 0, 0, 1], server.local_port()).into();
    let net = rt.block_on(BadNet::new(profile("broadband"), target));
    let mut client = steady(&net, &net.url(), 60.0);
    let mut log = Vec::new();
    echo_until(&mut server, &mut log, 15, |l| {
        count(l, |e| matches!(e, Event::Message { .. })) >= 10
    });
    let u = url(&server);
    let refused = rt.block_on(connect(&u, &[])).map(|_| ()).unwrap_err();
    assert_eq!(refusal_status(refused), 503, "the slot is taken");
    net.blackhole();
    let cut = Instant::now();
    // Another player tries every 100 ms until the half-open connection's slot is free.
    let mut newcomer = None;
    while newcomer.is_none() {
        assert!(
            cut.elapsed() < Duration::from_secs(10),
            "the slot was never freed"
        );
        server.poll(&mut log);
        newcomer = rt.block_on(connect(&u, &[])).ok();
        std::thread::sleep(Duration::from_millis(100));
    }
    let freed = cut.elapsed();
    let _ = client.kill();
    let _ = client.wait();
    println!("the half-open connection's slot was free after {freed:?} (heartbeat {interval:?})");
    assert!(freed <= interval * 3 + Duration::from_secs(1), "{freed:?}");
}
