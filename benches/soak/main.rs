//! The churn soak (`bash tools/soak.sh [MINUTES]`): a headless Godot server on our class
//! (godot-project/tests/soak/soak_server.gd: one plain and one wss server, 5 s heartbeat,
//! echo) and 1,000 clients behind the bad networks of `tools/network-profiles.tsv` (a
//! quarter behind each, made for real by tests/common/badnet.rs). Each client joins (a
//! tenth over wss), chats (a message every 0.2-1 s, every echo checked in order), and
//! leaves, cleanly or by a cut (a reset, no close), then comes back, until the end.
//!
//! Every minute: the server's memory, its open file descriptors and threads, its peers and
//! (ours) the bytes it holds for them, in a printed table. Memory is read from outside,
//! never by a debugger or a call injected into the server: its resident set (`VmRSS`),
//! sampled every second, with the minute's highest value beside the number of peers it
//! served then. The C library keeps freed pages for reuse, so the resident set is the
//! high-water mark of what the server needed, not its live heap: a server that leaks
//! climbs from minute to minute at the same load; one that does not stays on a plateau.
//! At the end: the clients' counts beside the server's statistics. Fails on any error
//! other than those the cuts cause, on counts that disagree, on peers left over, or on a
//! highest resident set, descriptors or threads that grow from the first loaded minute to
//! the last.
//! `SOAK_CLIENTS` sets the number of clients.
//!
//! `--compare` runs the same soak against Godot's own servers after ours, one after the
//! other (`--kind=godot_mp`: Godot's WebSocketMultiplayerPeer; `--kind=tcp`: TCPServer +
//! WebSocketPeer), and prints the three side by side; only ours is held to the checks.

#[path = "../../tests/common/badnet.rs"]
mod badnet;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

mod client;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The engine tools/godot.sh finds (or fetches).
fn godot() -> PathBuf {
    let out = Command::new("bash")
        .arg(root().join("tools/godot.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("tools/godot.sh");
    assert!(out.status.success(), "no Godot 4 engine");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// An RSA 2048 key and a certificate for the given IP addresses, made by openssl.
fn certificate(dir: &Path, ips: &[String]) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
    let san: Vec<String> = ips.iter().map(|ip| format!("IP:{ip}")).collect();
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=soak"])
        .args(["-addext", &format!("subjectAltName={}", san.join(","))])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl (tools/setup-clients.sh installs it)");
    assert!(status.success());
    (key, cert)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The server process, its latest statistics line, and what /proc says of it.
struct ServerProcess {
    child: Child,
    stats: Arc<Mutex<String>>,
}

impl ServerProcess {
    fn start(
        godot: &Path,
        kind: &str,
        ports: (u16, u16),
        key: &Path,
        cert: &Path,
    ) -> ServerProcess {
        let mut child = Command::new(godot)
            .args(["--headless", "--path"])
            .arg(root().join("godot-project"))
            .args(["--script", "res://tests/soak/soak_server.gd", "--"])
            .arg(format!("--kind={kind}"))
            .arg(format!("--port={}", ports.0))
            .arg(format!("--tls-port={}", ports.1))
            .arg(format!("--tls-key={}", key.display()))
            .arg(format!("--tls-cert={}", cert.display()))
            .env("GDRUST_SUPPRESSED_WARNINGS", "RegisterDocsInExport")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the soak server");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let stats = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let latest = stats.clone();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if let Some(json) = line.strip_prefix("STATS ") {
                    *latest.lock() = json.to_string();
                } else if line.starts_with("READY") {
                    let _ = ready_tx.send(());
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the soak server did not start");
        ServerProcess { child, stats }
    }

    fn status(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    }

    /// The resident set in KB, as the kernel counts it.
    fn rss_kb(&self) -> u64 {
        self.status("VmRSS:")
    }

    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).map_or(0, |d| d.count())
    }

    fn threads(&self) -> u64 {
        self.status("Threads:")
    }

    /// Samples the resident set every second until `end`: the highest, and the peers then.
    fn highest_rss_until(&self, end: Instant) -> (u64, u64) {
        let mut highest = (self.rss_kb(), self.stat("peers"));
        while Instant::now() < end {
            std::thread::sleep(Duration::from_secs(1).min(end - Instant::now()));
            let rss = self.rss_kb();
            if rss > highest.0 {
                highest = (rss, self.stat("peers"));
            }
        }
        highest
    }

    /// Bytes held for the peers, received and queued (0 for Godot's servers).
    fn buffered(&self) -> (u64, u64) {
        (
            self.stat("inbound_buffered_bytes"),
            self.stat("outbound_buffered_bytes"),
        )
    }

    /// A number of the latest statistics line.
    fn stat(&self, name: &str) -> u64 {
        let text = self.stats.lock().clone();
        let key = format!("\"{name}\":");
        text.split(&key)
            .nth(1)
            .and_then(|rest| rest.split([',', '}']).next()?.trim().parse::<f64>().ok())
            .map_or(0, |v| v as u64)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One row of the per-minute table.
struct Row {
    minute: u64,
    /// The highest resident set sampled in the minute, and the peers at that sample.
    rss_kb: u64,
    peers_at_peak: u64,
    fds: usize,
    threads: u64,
    peers: u64,
    /// Bytes the server held for its peers at the minute's end (ours only): received and
    /// not yet read, queued and not yet sent.
    buffered: (u64, u64),
}

impl Row {
    fn print(&self, label: &str) {
        println!(
            "| {label} | {:.1} MB ({} peers) | {} | {} | {} | {:.1} / {:.1} |",
            self.rss_kb as f64 / 1024.0,
            self.peers_at_peak,
            self.fds,
            self.threads,
            self.peers,
            self.buffered.0 as f64 / 1024.0,
            self.buffered.1 as f64 / 1024.0,
        );
    }
}

/// What one soak of one server kind saw.
struct Outcome {
    kind: &'static str,
    rows: Vec<Row>,
    totals: client::Totals,
    /// Echo round trips per ms, per profile.
    round_trips: Vec<(String, Vec<u64>)>,
    accepted: u64,
    messages_in: u64,
    messages_out: u64,
    peers_left: u64,
    failures: Vec<String>,
}

/// The round trip below which a share `q` of the echoes came back, in ms.
fn percentile(counts: &[u64], q: f64) -> usize {
    let total: u64 = counts.iter().sum();
    let want = (total as f64 * q).ceil() as u64;
    let mut seen = 0;
    for (ms, n) in counts.iter().enumerate() {
        seen += n;
        if seen >= want.max(1) {
            return ms;
        }
    }
    counts.len()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--client") {
        return client::main(&args[2..]);
    }
    let minutes: f64 = args
        .iter()
        .find_map(|a| a.strip_prefix("--minutes=")?.parse().ok())
        .unwrap_or(3.0);
    let kinds: Vec<&'static str> = if args.iter().any(|a| a == "--compare") {
        vec!["ours", "godot_mp", "tcp"]
    } else {
        match args.iter().find_map(|a| a.strip_prefix("--kind=")) {
            None | Some("ours") => vec!["ours"],
            Some("godot_mp") => vec!["godot_mp"],
            Some("tcp") => vec!["tcp"],
            Some(other) => panic!("--kind={other}: ours, godot_mp or tcp"),
        }
    };
    let clients: usize = std::env::var("SOAK_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let godot = godot();
    let outcomes: Vec<Outcome> = kinds
        .iter()
        .map(|kind| soak(&godot, kind, minutes, clients))
        .collect();
    if outcomes.len() > 1 {
        compare(&outcomes);
    }
    let ours = outcomes.iter().find(|o| o.kind == "ours");
    let failures = ours.map_or(&[][..], |o| &o.failures[..]);
    for o in outcomes.iter().filter(|o| o.kind != "ours") {
        for f in &o.failures {
            println!("soak: {} (not checked): {f}", o.kind);
        }
    }
    if failures.is_empty() {
        println!("soak: ok");
    } else {
        for f in failures {
            println!("soak: FAILED: {f}");
        }
        std::process::exit(1);
    }
}

/// One soak: the server of `kind`, the bad networks, the clients; the table, the counts,
/// and what the checks found.
fn soak(godot: &Path, kind: &'static str, minutes: f64, clients: usize) -> Outcome {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ports = (free_port(), free_port());
    let profiles = badnet::profiles();
    // The bad networks first: the certificate names the addresses the clients reach.
    let mut nets = Vec::new();
    for profile in &profiles {
        let mut net = rt.block_on(badnet::BadNet::new(
            profile.clone(),
            ([127, 0, 0, 1], ports.0).into(),
        ));
        let tls_port = rt.block_on(net.forward(([127, 0, 0, 1], ports.1).into()));
        nets.push((net, tls_port));
    }
    let ips: Vec<String> = nets.iter().map(|(n, _)| n.host_ip.clone()).collect();
    let dir = std::env::temp_dir().join(format!("gws-soak-{}-{kind}", std::process::id()));
    let (key, cert) = certificate(&dir, &ips);
    let server = ServerProcess::start(godot, kind, ports, &key, &cert);
    let secs = minutes * 60.0;
    println!(
        "\nsoak of {kind}: {clients} clients for {minutes} min behind {} (a tenth over wss), Godot {}",
        profiles
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        String::from_utf8_lossy(
            &Command::new(godot)
                .args(["--headless", "--version"])
                .output()
                .unwrap()
                .stdout
        )
        .trim()
    );
    let exe = std::env::current_exe().unwrap();
    let per_net = clients / nets.len();
    let children: Vec<(String, Child)> = nets
        .iter()
        .enumerate()
        .map(|(i, (net, tls_port))| {
            let child = net
                .command(&exe)
                .arg("--client")
                .arg(kind)
                .arg(format!("ws://{}:{}/", net.host_ip, net.port))
                .arg(format!("wss://{}:{tls_port}/", net.host_ip))
                .arg(&cert)
                .arg(per_net.to_string())
                .arg(secs.to_string())
                .arg((i as u64 * 7919 + 17).to_string())
                .stdout(Stdio::piped())
                .spawn()
                .expect("a soak client process in its namespace");
            (net.profile.name.clone(), child)
        })
        .collect();
    println!(
        "| minute | highest resident set (peers then) | open fds | threads | peers | buffered in / out (KB) |"
    );
    println!("|---|---|---|---|---|---|");
    let started = Instant::now();
    let mut rows: Vec<Row> = Vec::new();
    let mut minute = 0;
    while started.elapsed().as_secs_f64() < secs {
        let end = Duration::from_secs(60 * (minute + 1)).min(Duration::from_secs_f64(secs));
        minute += 1;
        let (rss_kb, peers_at_peak) = server.highest_rss_until(started + end);
        let row = Row {
            minute,
            rss_kb,
            peers_at_peak,
            fds: server.fds(),
            threads: server.threads(),
            peers: server.stat("peers"),
            buffered: server.buffered(),
        };
        row.print(&minute.to_string());
        rows.push(row);
    }
    let mut totals = client::Totals::default();
    let mut round_trips = Vec::new();
    for (profile, child) in children {
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "a client process failed:\n{text}");
        totals.add(&text);
        round_trips.push((profile, client::round_trips(&text)));
    }
    // The clients are gone: so must every peer be, soon.
    let wait = Instant::now();
    while server.stat("peers") > 0 && wait.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(200));
    }
    let (rss_kb, peers_at_peak) =
        server.highest_rss_until(Instant::now() + Duration::from_millis(1500));
    Row {
        minute,
        rss_kb,
        peers_at_peak,
        fds: server.fds(),
        threads: server.threads(),
        peers: server.stat("peers"),
        buffered: server.buffered(),
    }
    .print("end");
    let (accepted, messages_in, messages_out, peers_left) = (
        server.stat("accepted"),
        server.stat("messages_in"),
        server.stat("messages_out"),
        server.stat("peers"),
    );
    println!("\nclients: {totals}");
    println!(
        "server: {accepted} accepted, {messages_in} messages in, {messages_out} out, {peers_left} peers left"
    );
    let mut outcome = Outcome {
        kind,
        rows,
        totals,
        round_trips,
        accepted,
        messages_in,
        messages_out,
        peers_left,
        failures: Vec::new(),
    };
    outcome.failures = check(&outcome, secs, clients);
    drop(server);
    drop(nets);
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

/// What the soak holds a server to.
fn check(o: &Outcome, secs: f64, clients: usize) -> Vec<String> {
    let (totals, accepted) = (&o.totals, o.accepted);
    let mut failures = Vec::new();
    if totals.errors > 0 {
        failures.push(format!("{} errors other than cuts", totals.errors));
    }
    if accepted < totals.connects || accepted > totals.connects + totals.connect_failures {
        failures.push(format!(
            "the server accepted {accepted}, the clients connected {} ({} attempts failed)",
            totals.connects, totals.connect_failures
        ));
    }
    if o.messages_in < totals.echoed || o.messages_in > totals.sent {
        failures.push(format!(
            "the server got {} messages: fewer than the {} echoed or more than the {} sent",
            o.messages_in, totals.echoed, totals.sent
        ));
    }
    if o.messages_out < totals.echoed {
        failures.push(format!(
            "the server sent {}, the clients got {}",
            o.messages_out, totals.echoed
        ));
    }
    if o.peers_left > 0 {
        failures.push(format!(
            "{} peers left after every client was gone",
            o.peers_left
        ));
    }
    // Flat while the load lasts: the first minute against the last one before the clients
    // stop joining (30 s before the end).
    let loaded: Vec<&Row> = o
        .rows
        .iter()
        .filter(|r| (r.minute * 60) as f64 <= secs - 30.0)
        .collect();
    if let (Some(first), Some(last)) = (loaded.first(), loaded.last())
        && loaded.len() >= 2
    {
        if last.rss_kb > first.rss_kb + first.rss_kb / 5 + 4096 {
            failures.push(format!(
                "the highest resident set grew from {} KB ({} peers) to {} KB ({} peers)",
                first.rss_kb, first.peers_at_peak, last.rss_kb, last.peers_at_peak
            ));
        }
        if last.threads > first.threads {
            failures.push(format!(
                "threads grew from {} to {}",
                first.threads, last.threads
            ));
        }
        if last.fds > first.fds + clients / 2 {
            failures.push(format!("open fds grew from {} to {}", first.fds, last.fds));
        }
    }
    failures
}

/// The kinds side by side.
fn compare(outcomes: &[Outcome]) {
    let profiles: Vec<&str> = outcomes[0]
        .round_trips
        .iter()
        .map(|(p, _)| p.as_str())
        .collect();
    println!("\n## side by side");
    println!(
        "| server | connections (attempts failed) | errors | echoed | echo median {} (ms) | echo p99 (ms) | highest resident set, last loaded minute | threads |",
        profiles.join(" / ")
    );
    println!("|---|---|---|---|---|---|---|---|");
    for o in outcomes {
        let medians: Vec<String> = o
            .round_trips
            .iter()
            .map(|(_, c)| percentile(c, 0.5).to_string())
            .collect();
        let p99: Vec<String> = o
            .round_trips
            .iter()
            .map(|(_, c)| percentile(c, 0.99).to_string())
            .collect();
        let last = o.rows.iter().rev().nth(1).or(o.rows.last());
        println!(
            "| {} | {} ({}) | {} | {} | {} | {} | {} | {} |",
            o.kind,
            o.totals.connects,
            o.totals.connect_failures,
            o.totals.errors,
            o.totals.echoed,
            medians.join(" / "),
            p99.join(" / "),
            last.map_or("-".into(), |r| format!(
                "{:.1} MB",
                r.rss_kb as f64 / 1024.0
            )),
            last.map_or("-".into(), |r| r.threads.to_string()),
        );
    }
}
