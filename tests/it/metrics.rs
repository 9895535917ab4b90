//! The Prometheus metrics path against a real Prometheus (Debian's package, installed when
//! missing, on 127.0.0.1 with a configuration of the test's own that scrapes the server
//! every second): promtool accepts the output, and a query through Prometheus' HTTP API
//! returns the number of clients the test opened.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::engine::{Running, free_port};
use common::services::{debian_binary, scratch_dir, wait_for_port};
use common::*;

fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

#[test]
fn prometheus_scrapes_the_server() {
    let rt = client_runtime();
    let mut server = listening(&["game"], |s| {
        s.configure(|c| c.live.metrics_path = "/metrics".into())
            .unwrap()
    });
    let port = server.local_port();
    let clients: Vec<Client> = (0..3)
        .map(|_| rt.block_on(connect(&url(&server), &["game"])).unwrap())
        .collect();
    let _refused = rt.block_on(connect(&url(&server), &["other"])).unwrap_err();
    let mut log = Vec::new();
    poll_until(&mut server, &mut log, 5, |l| connected_ids(l).len() == 3);

    let response = http_get(port, "/metrics");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(
        response.contains("Content-Type: text/plain; version=0.0.4"),
        "{response}"
    );
    let metrics = body(&response).to_string();
    println!("{metrics}");
    assert!(metrics.contains("\nwebsocket_server_peers 3\n"));
    assert!(
        metrics.contains("websocket_server_connections_refused_total{reason=\"subprotocol\"} 1")
    );

    // promtool's own check of the exposition format and naming rules.
    let promtool = debian_binary("promtool", "prometheus");
    let mut check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {said}"
    );

    // A real Prometheus scraping every second.
    let prometheus = debian_binary("prometheus", "prometheus");
    let dir = scratch_dir("prometheus");
    let web = free_port();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: godot\n    metrics_path: /metrics\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ),
    )
    .unwrap();
    let mut cmd = Command::new(prometheus);
    cmd.arg(format!(
        "--config.file={}",
        dir.join("prometheus.yml").display()
    ))
    .arg(format!(
        "--storage.tsdb.path={}",
        dir.join("data").display()
    ))
    .arg(format!("--web.listen-address=127.0.0.1:{web}"));
    let _prom = Running::start(cmd);
    wait_for_port(web, Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(60);
    let answer = loop {
        let mut batch = Vec::new();
        server.poll(&mut batch);
        let r = http_get(web, "/api/v1/query?query=websocket_server_peers");
        if body(&r).contains("\"value\":[") {
            break body(&r).to_string();
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never had the metric: {r}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    println!("Prometheus: {answer}");
    assert!(
        answer.ends_with(",\"3\"]}]}}") || answer.contains(",\"3\"]"),
        "{answer}"
    );
    drop(clients);
    let _ = std::fs::remove_dir_all(&dir);
}
