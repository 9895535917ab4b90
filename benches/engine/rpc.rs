//! The high-level multiplayer line: RPC round trips with stock clients.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::{Plan, capture::*, process::*, table::*};

pub(crate) fn line_rpc(godot: &PathBuf, plan: &Plan, table: &mut Table, kind: &'static str) {
    use std::io::BufRead;
    let port = free_port();
    let v = variant(kind);
    let server = start_script_with(
        godot,
        "res://bench/mp_rpc.gd",
        &[
            "--role=server".into(),
            format!("--kind={}", v.server_kind),
            format!("--port={port}"),
        ],
        &v.envs,
    );
    // Split: every thread of the server on core 0, the clients' process on core 1, so that
    // neither side's scheduling delays the other's.
    if plan.split_cores && !pin(server.pid(), "0") {
        println!("rpc {kind}: taskset failed; the cores are not split");
    }
    let mut clients = Command::new(if plan.split_cores {
        "taskset"
    } else {
        godot.to_str().unwrap()
    });
    if plan.split_cores {
        clients.args(["-c", "1"]).arg(godot);
    }
    let mut clients = clients
        .args(["--headless", "--path"])
        .arg(root().join("godot-project"))
        .args(["--script", "res://bench/mp_rpc.gd", "--"])
        .arg("--role=clients")
        .arg(format!("--url=ws://127.0.0.1:{port}"))
        .arg(format!("--count={}", plan.rpc_clients))
        .arg(format!("--seconds={}", plan.rpc_secs))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = std::io::BufReader::new(clients.stdout.take().unwrap());
    let mut result = None;
    let mut capture = None;
    for line in out.lines().map_while(Result::ok) {
        if line.starts_with("CONNECTED") {
            capture = WireCapture::start(port, plan.rpc_secs / 2);
        }
        if let Some(json) = line.strip_prefix("RESULT ") {
            result = Some(parse_json_numbers(json));
            break;
        }
    }
    let _ = clients.kill();
    let _ = clients.wait();
    let Some(r) = result else {
        println!("rpc {kind}: no result");
        return;
    };
    let (rate, p50, p99) = (r["per_second"], r["p50_ms"], r["p99_ms"]);
    println!("rpc {kind}: {rate:.0} round trips/s, p50 {p50:.2} ms, p99 {p99:.2} ms");
    let line = format!(
        "multiplayer RPC round trips ({} stock clients{}){}",
        plan.rpc_clients,
        if plan.split_cores {
            ", server and clients on a core each"
        } else {
            ""
        },
        v.note
    );
    table.add(
        &format!("{line}: per second"),
        v.column,
        format!("{rate:.0}"),
        rate,
        true,
    );
    table.add(
        &format!("{line}: p50 ms"),
        v.column,
        format!("{p50:.2}"),
        p50,
        false,
    );
    table.add(
        &format!("{line}: p99 ms"),
        v.column,
        format!("{p99:.2}"),
        p99,
        false,
    );
    match capture.and_then(WireCapture::summary) {
        Some((mean, p99, n)) => {
            println!(
                "rpc {kind}: at the wire, ping in to pong out: mean {mean:.2} ms, p99 {p99:.2} ms ({n} pings)"
            );
            table.add(
                &format!("{line}: at the wire, ping in to pong out, mean / p99 ms"),
                v.column,
                format!("{mean:.2} / {p99:.2}"),
                mean,
                false,
            );
        }
        _ => println!(
            "rpc {kind}: no loopback capture (it needs dumpcap and tshark, from Debian's tshark package, and root)"
        ),
    }
}
