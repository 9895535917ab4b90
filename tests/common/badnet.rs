//! Bad networks made here for real, as `tools/network-profiles.tsv` describes them: the
//! clients run in a network namespace of their own, joined to the server's side by a veth
//! pair; tbf limits the link's rate and nftables drops packets at random (this kernel has
//! no netem); a relay of the test's own on the server's side adds the latency and jitter
//! (order kept, as TCP keeps it). Everything is removed when the [`BadNet`] is dropped,
//! also when the test fails. Needs root, iproute2 and nftables (tools/setup-clients.sh).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// One line of `tools/network-profiles.tsv`.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    /// Round-trip time added, half each way.
    pub rtt: Duration,
    /// +/- on each one-way delay.
    pub jitter: Duration,
    /// Packets dropped each way, in percent.
    pub loss_pct: f64,
    /// The link's rate each way in kbit/s (0: not limited).
    pub rate_kbit: u32,
}

/// The profiles, in the file's order.
pub fn profiles() -> Vec<Profile> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools/network-profiles.tsv");
    let text = std::fs::read_to_string(&path).expect("tools/network-profiles.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let ms = |s: &str| Duration::from_millis(s.parse().expect("milliseconds"));
            Profile {
                name: f[0].to_string(),
                rtt: ms(f[1]),
                jitter: ms(f[2]),
                loss_pct: f[3].parse().expect("loss in percent"),
                rate_kbit: f[4].parse().expect("rate in kbit/s"),
            }
        })
        .collect()
}

/// The profile named `name`.
pub fn profile(name: &str) -> Profile {
    profiles()
        .into_iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no profile {name} in tools/network-profiles.tsv"))
}

/// Runs a command, panicking with its output when it fails.
fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (tools/setup-clients.sh installs it)", args[0]));
    assert!(
        out.status.success(),
        "{}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A client side behind a bad network: its namespace, the veth pair, the relay.
pub struct BadNet {
    pub profile: Profile,
    /// The namespace the clients run in (`ip netns exec`).
    pub namespace: String,
    /// The server side's end of the veth pair.
    host_if: String,
    /// The address the clients reach the relay at, and the clients' own.
    pub host_ip: String,
    pub client_ip: String,
    /// The relay's port on `host_ip`: what the clients connect to.
    pub port: u16,
    relay: tokio::task::JoinHandle<()>,
    /// More relays through the same network ([`BadNet::forward`]).
    more: Vec<tokio::task::JoinHandle<()>>,
}

impl BadNet {
    /// Builds the bad network of `profile` in front of the server at `target`. Call from
    /// inside a Tokio runtime (the relay runs on it).
    pub async fn new(profile: Profile, target: SocketAddr) -> BadNet {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}{n}", std::process::id() % 100_000);
        let (namespace, host_if, client_if) =
            (format!("gws{tag}"), format!("gh{tag}"), format!("gc{tag}"));
        // A /30 of its own in 10.210.0.0/16, from the process id and the counter.
        let block = (std::process::id() * 7 + n * 4) % 16384 * 4;
        let (a, b) = (block / 256, block % 256);
        let host_ip = format!("10.210.{a}.{}", b + 1);
        let client_ip = format!("10.210.{a}.{}", b + 2);
        let _ = Command::new("ip")
            .args(["netns", "del", &namespace])
            .output();
        run(&["ip", "netns", "add", &namespace]);
        let mut net = BadNet {
            profile: profile.clone(),
            namespace: namespace.clone(),
            host_if: host_if.clone(),
            host_ip: host_ip.clone(),
            client_ip: client_ip.clone(),
            port: 0,
            relay: tokio::spawn(async {}),
            more: Vec::new(),
        };
        let ns = |args: &[&str]| {
            let mut all = vec!["ip", "netns", "exec", namespace.as_str()];
            all.extend_from_slice(args);
            run(&all);
        };
        run(&[
            "ip", "link", "add", &host_if, "type", "veth", "peer", "name", &client_if,
        ]);
        run(&["ip", "link", "set", &client_if, "netns", &namespace]);
        run(&[
            "ip",
            "addr",
            "add",
            &format!("{host_ip}/30"),
            "dev",
            &host_if,
        ]);
        run(&["ip", "link", "set", &host_if, "up"]);
        ns(&[
            "ip",
            "addr",
            "add",
            &format!("{client_ip}/30"),
            "dev",
            &client_if,
        ]);
        ns(&["ip", "link", "set", &client_if, "up"]);
        ns(&["ip", "link", "set", "lo", "up"]);
        if profile.rate_kbit > 0 {
            let rate = format!("{}kbit", profile.rate_kbit);
            // A queue of about 100 ms at the rate, as a mobile link's buffer.
            let burst = format!("{}", (profile.rate_kbit as usize * 1000 / 8 / 10).max(3000));
            for side in [None, Some(&client_if)] {
                let dev = side.unwrap_or(&host_if);
                let mut args = vec!["tc", "qdisc", "add", "dev", dev.as_str(), "root", "tbf"];
                args.extend(["rate", &rate, "burst", "4kb", "limit", &burst]);
                match side {
                    None => run(&args),
                    Some(_) => ns(&args),
                }
            }
        }
        if profile.loss_pct > 0.0 {
            // Drops each way in the clients' namespace: the kernel's TCP retransmits.
            let per_mille = (profile.loss_pct * 10.0).round() as u32;
            let lose = format!("numgen random mod 1000 < {per_mille} counter drop");
            ns(&["nft", "add", "table", "ip", "gws"]);
            for (chain, hook, field) in [("in", "input", "saddr"), ("out", "output", "daddr")] {
                let spec = format!("{{ type filter hook {hook} priority 0 ; }}");
                ns(&["nft", "add", "chain", "ip", "gws", chain, &spec]);
                let rule = format!("ip {field} {host_ip} {lose}");
                let mut args = vec!["nft", "add", "rule", "ip", "gws", chain];
                args.extend(rule.split(' '));
                ns(&args);
            }
        }
        let listener = TcpListener::bind((host_ip.as_str(), 0)).await.unwrap();
        net.port = listener.local_addr().unwrap().port();
        net.relay = tokio::spawn(relay(listener, target, profile));
        net
    }

    /// Another server behind the same network: the port on [`BadNet::host_ip`] the
    /// clients reach it at, with the same latency and jitter.
    pub async fn forward(&mut self, target: SocketAddr) -> u16 {
        let listener = TcpListener::bind((self.host_ip.as_str(), 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        self.more
            .push(tokio::spawn(relay(listener, target, self.profile.clone())));
        port
    }

    /// The URL the clients in the namespace connect to.
    pub fn url(&self) -> String {
        format!("ws://{}:{}/", self.host_ip, self.port)
    }

    /// A command run in the clients' namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.namespace]).arg(program);
        c
    }

    /// Packets the profile's loss has dropped so far, both ways.
    pub fn dropped_packets(&self) -> u64 {
        let out = self
            .command("nft")
            .args(["list", "table", "ip", "gws"])
            .output()
            .expect("nft");
        let text = String::from_utf8_lossy(&out.stdout);
        text.split("counter packets ")
            .skip(1)
            .filter_map(|rest| rest.split(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    /// Sets the link down (`false`) or up again: packets are lost meanwhile, nothing is
    /// closed.
    pub fn link(&self, up: bool) {
        run(&[
            "ip",
            "link",
            "set",
            &self.host_if,
            if up { "up" } else { "down" },
        ]);
    }

    /// Drops every packet between the clients and the server from now on, closing
    /// nothing: a NAT that forgot the connections.
    pub fn blackhole(&self) {
        let ns = |args: &[&str]| {
            let mut all = vec!["ip", "netns", "exec", self.namespace.as_str()];
            all.extend_from_slice(args);
            run(&all);
        };
        ns(&["nft", "add", "table", "ip", "gwshole"]);
        for (chain, hook, field) in [("in", "input", "saddr"), ("out", "output", "daddr")] {
            let spec = format!("{{ type filter hook {hook} priority -10 ; }}");
            ns(&["nft", "add", "chain", "ip", "gwshole", chain, &spec]);
            ns(&[
                "nft",
                "add",
                "rule",
                "ip",
                "gwshole",
                chain,
                "ip",
                field,
                &self.host_ip,
                "drop",
            ]);
        }
    }
}

impl Drop for BadNet {
    fn drop(&mut self) {
        self.relay.abort();
        for relay in &self.more {
            relay.abort();
        }
        // Deleting the namespace deletes its veth end, and with it the pair.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.namespace])
            .output();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
    }
}

/// Accepts clients and forwards each to `target` with the profile's delay and jitter.
async fn relay(listener: TcpListener, target: SocketAddr, profile: Profile) {
    while let Ok((client, _)) = listener.accept().await {
        let profile = profile.clone();
        tokio::spawn(async move {
            let Ok(server) = connect_to_server(target, &profile).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            #[cfg(target_os = "linux")]
            if profile.rate_kbit > 0 {
                // Across the link, the kernel keeps little that is not sent yet: what the
                // link cannot carry waits in the server, which can see it.
                let _ = socket2::SockRef::from(&client).set_tcp_notsent_lowat(16 * 1024);
            }
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            let seed = u64::from(cr.peer_addr().map_or(1, |a| a.port()));
            tokio::join!(
                delayed(cr, sw, profile.clone(), seed),
                delayed(sr, cw, profile, seed ^ 0x9e37_79b9)
            );
        });
    }
}

/// The relay's connection to the server. On a rate-limited profile its receive buffer is
/// small and fixed (no autotuning over loopback), so a server writing faster than the link
/// carries feels it as it would across the real path: its socket stops taking data.
async fn connect_to_server(target: SocketAddr, profile: &Profile) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    if profile.rate_kbit > 0 {
        socket.set_recv_buffer_size(16 * 1024)?;
    }
    socket.connect(target).await
}

/// Bytes the relay holds between reading and writing them: what the path holds in
/// flight, the rate times the one-way delay (plus a little), or 4 MB on a link without a
/// rate. More waits, so the sender's TCP feels the link's rate.
fn in_flight_budget(profile: &Profile) -> usize {
    if profile.rate_kbit == 0 {
        return 4 << 20;
    }
    let bytes_per_sec = profile.rate_kbit as usize * 1000 / 8;
    bytes_per_sec * (profile.rtt / 2).as_millis() as usize / 1000 + 16 * 1024
}

/// Copies `from` to `to`, each chunk released half the round trip (+/- jitter) after it
/// was read, never before the chunk before it, with at most [`in_flight_budget`] bytes
/// held.
async fn delayed(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    profile: Profile,
    mut seed: u64,
) {
    let budget = in_flight_budget(&profile);
    let held = std::sync::Arc::new(tokio::sync::Semaphore::new(budget));
    let (tx, mut rx) =
        mpsc::unbounded_channel::<(Instant, Vec<u8>, tokio::sync::OwnedSemaphorePermit)>();
    let writer = tokio::spawn(async move {
        while let Some((at, bytes, _held)) = rx.recv().await {
            tokio::time::sleep_until(at.into()).await;
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let half = profile.rtt / 2;
    let jitter = profile.jitter.as_micros() as i64;
    let mut last = Instant::now();
    // Reads of a quarter of the budget at most, so the link never waits for the budget.
    let mut buf = vec![0u8; (budget / 4).min(64 * 1024)];
    loop {
        // Room for a whole read first: what does not fit stays in the socket.
        let Ok(mut permit) = held.clone().acquire_many_owned(buf.len() as u32).await else {
            break;
        };
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // What the read did not fill goes back.
        drop(permit.split(buf.len() - n));
        // xorshift: a jitter in [-jitter, +jitter] microseconds.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let offset = if jitter > 0 {
            (seed % (2 * jitter as u64 + 1)) as i64 - jitter
        } else {
            0
        };
        let delay = (half.as_micros() as i64 + offset).max(0) as u64;
        let at = (Instant::now() + Duration::from_micros(delay)).max(last);
        last = at;
        if tx.send((at, buf[..n].to_vec(), permit)).is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}
