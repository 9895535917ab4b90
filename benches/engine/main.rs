//! The benchmark inside the engine (`bash tools/bench-engine.sh [--quick]`): three headless
//! echo servers in GDScript on the same Godot build, one after the other in one run
//! (godot-project/bench/echo_server.gd): ours (`WebSocketServer`), Godot's multiplayer
//! server (`WebSocketMultiplayerPeer.create_server`) and Godot's `TCPServer` +
//! `WebSocketPeer`. The load comes from this process (tokio-tungstenite clients); each server
//! reports its own frame statistics. Lines: burst of connects, idle clients, closed-loop
//! throughput, latency at the default frame rate and at 60 fps, high-level multiplayer RPC
//! round trips (godot-project/bench/mp_rpc.gd, stock clients), fan-out, wss (TLS
//! handshakes and memory), reconnection and compression (ours only). Prints one table
//! with the figures and ours / theirs.

mod capture;
mod compression;
mod hops;
mod lines;
mod machine;
mod process;
mod reconnect;
#[path = "../../tests/common/relay.rs"]
mod relay;
mod rpc;
mod scale;
mod table;
mod wss;

use std::process::Command;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

use crate::{lines::*, process::*, rpc::*, table::*};

pub(crate) const KINDS: [&str; 3] = ["ours", "godot_mp", "tcp"];

pub(crate) struct Plan {
    pub(crate) quick: bool,
    /// Lines to run (all when empty).
    pub(crate) only: Vec<String>,
    /// How long the lines other than the burst wait for their clients to connect.
    pub(crate) connect_wait: Duration,
    pub(crate) bursts: Vec<usize>,
    pub(crate) burst_wait: Duration,
    pub(crate) idle_levels: Vec<usize>,
    pub(crate) idle_wait: Duration,
    pub(crate) throughput_secs: u64,
    pub(crate) latency_clients: usize,
    pub(crate) latency_secs: u64,
    pub(crate) rpc_clients: usize,
    pub(crate) rpc_secs: u64,
    /// The latency and RPC lines with the server on core 0 and the clients on core 1
    /// (`--split-cores`; `--rpc-split-cores` as before). The full run measures latency both
    /// ways.
    pub(crate) split_cores: bool,
    /// Ours records per-message timestamps in the latency line and the line prints where
    /// the time goes (`--hops`).
    pub(crate) hops: bool,
    pub(crate) fanout_clients: usize,
    pub(crate) fanout_secs: u64,
    /// More numbers of clients for our fan-out alone (is its main-thread cost flat?).
    pub(crate) fanout_levels: Vec<usize>,
    /// The counts of the scale line (`--only=scale`; `--scale-levels=1000,5000`).
    pub(crate) scale_levels: Vec<usize>,
}

impl Plan {
    pub(crate) fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                quick,
                only: vec![],
                connect_wait: Duration::from_secs(8),
                bursts: vec![1000],
                burst_wait: Duration::from_secs(3),
                idle_levels: vec![100, 1000],
                idle_wait: Duration::from_secs(8),
                throughput_secs: 2,
                latency_clients: 200,
                latency_secs: 2,
                rpc_clients: 50,
                rpc_secs: 2,
                split_cores: false,
                hops: false,
                fanout_clients: 200,
                fanout_secs: 2,
                fanout_levels: vec![],
                scale_levels: vec![1000, 5000],
            }
        } else {
            Plan {
                quick,
                only: vec![],
                connect_wait: Duration::from_secs(30),
                bursts: vec![1000, 10000],
                burst_wait: Duration::from_secs(15),
                idle_levels: vec![100, 1000, 3000, 10000],
                idle_wait: Duration::from_secs(40),
                throughput_secs: 5,
                latency_clients: 1000,
                latency_secs: 8,
                rpc_clients: 100,
                rpc_secs: 8,
                split_cores: false,
                hops: false,
                fanout_clients: 1000,
                fanout_secs: 8,
                fanout_levels: vec![100, 10000],
                scale_levels: vec![1000, 5000, 10000, 19000],
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Processes

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--scale-worker") {
        return scale::worker(&args[at + 1..]);
    }
    let quick =
        std::env::args().any(|a| a == "--quick") || std::env::var_os("BENCH_QUICK").is_some();
    let mut plan = Plan::new(quick);
    plan.only = std::env::args()
        .filter_map(|a| a.strip_prefix("--only=").map(str::to_string))
        .flat_map(|l| l.split(',').map(str::to_string).collect::<Vec<_>>())
        .collect();
    // Longer throughput runs, e.g. to attach a profiler to one server.
    if let Some(secs) = std::env::args().find_map(|a| {
        a.strip_prefix("--throughput-secs=")
            .and_then(|s| s.parse().ok())
    }) {
        plan.throughput_secs = secs;
    }
    if let Some(levels) = std::env::args().find_map(|a| {
        a.strip_prefix("--scale-levels=")
            .map(|l| l.split(',').filter_map(|v| v.parse().ok()).collect())
    }) {
        plan.scale_levels = levels;
    }
    plan.split_cores = std::env::args().any(|a| a == "--split-cores" || a == "--rpc-split-cores");
    plan.hops = std::env::args().any(|a| a == "--hops");
    // Some servers only (`--kinds=ours,tcp`).
    let kinds: Vec<&'static str> = match std::env::args().find_map(|a| {
        a.strip_prefix("--kinds=")
            .map(|k| k.split(',').map(str::to_string).collect::<Vec<_>>())
    }) {
        Some(wanted) => KINDS
            .into_iter()
            .filter(|k| wanted.iter().any(|w| w == k))
            .collect(),
        None => KINDS.to_vec(),
    };
    let run = |line: &str| plan.only.is_empty() || plan.only.iter().any(|o| o == line);
    // Lines that --quick leaves out unless asked for by --only (it must stay near 2 minutes).
    let run_long = |line: &str| plan.only.iter().any(|o| o == line) || (!plan.quick && run(line));
    let godot = godot();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let mut table = Table { rows: Vec::new() };
    println!(
        "bench-engine{}: Godot {}, {} cores",
        if plan.quick { " --quick" } else { "" },
        String::from_utf8_lossy(
            &Command::new(&godot)
                .args(["--headless", "--version"])
                .output()
                .unwrap()
                .stdout
        )
        .trim(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    // Figures from different machines differ most where a server makes many system calls
    // (Godot's servers read every socket every frame): say what one costs here.
    println!(
        "a system call here: {:.0} ns (a non-blocking read of an empty socket)",
        machine::syscall_ns()
    );
    rt.block_on(async {
        for kind in kinds.iter().copied().filter(|_| run("burst")) {
            line_burst(&godot, &plan, &mut table, kind).await;
        }
        for kind in kinds.iter().copied().filter(|_| run("idle")) {
            line_idle(&godot, &plan, &mut table, kind).await;
        }
        // --quick measures the capacity only (it must stay under 2 minutes).
        let pacings: &[bool] = if plan.quick { &[true] } else { &[false, true] };
        for &unpaced in pacings {
            for kind in kinds.iter().copied().filter(|_| run("throughput")) {
                line_throughput(&godot, &plan, &mut table, kind, unpaced).await;
            }
        }
        // Cores shared and split in the full run (--split-cores: split only).
        let splits: &[bool] = match (plan.split_cores, plan.quick) {
            (true, _) => &[true],
            (false, true) => &[false],
            (false, false) => &[false, true],
        };
        for &split in splits {
            for fps in [None, Some(60)] {
                for kind in kinds.iter().copied().filter(|_| run("latency")) {
                    line_latency(&godot, &plan, &mut table, kind, fps, split).await;
                }
            }
        }
        for kind in kinds.iter().copied().filter(|_| run("fanout")) {
            let (clients, secs) = (plan.fanout_clients, plan.fanout_secs);
            line_fanout(&godot, &plan, &mut table, kind, clients, secs).await;
        }
        for &clients in plan.fanout_levels.iter().filter(|_| run("fanout")) {
            line_fanout(&godot, &plan, &mut table, "ours", clients, 4).await;
        }
        for kind in kinds.iter().copied().filter(|_| run_long("wss")) {
            wss::line_wss(&godot, &plan, &mut table, kind).await;
        }
        if run_long("reconnect") {
            reconnect::line_reconnect(&godot, &plan, &mut table).await;
        }
        if run_long("compression") {
            compression::line_compression(&godot, &plan, &mut table).await;
        }
        // Only when asked for (about 10 minutes).
        if plan.only.iter().any(|o| o == "scale") {
            scale::line_scale(&godot, &plan, &mut table).await;
        }
    });
    for kind in ["ours", "godot_mp"].into_iter().filter(|_| run("rpc")) {
        line_rpc(&godot, &plan, &mut table, kind);
    }
    table.print();
    println!(
        "\nbench-engine took {:.0} s",
        started.elapsed().as_secs_f64()
    );
}
