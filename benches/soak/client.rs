//! A soak client process, run in a bad network's namespace by the soak: `N` players that
//! join (a tenth over wss), chat, leave cleanly or by a cut, and come back, until the end;
//! then one line of totals and one of echo round trips.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream};

/// `KIND WS_URL WSS_URL CERT N SECONDS SEED`: runs the players, prints their totals.
pub fn main(args: &[String]) {
    let [kind, ws_url, wss_url, cert, n, secs, seed] = args else {
        panic!("usage: --client KIND WS_URL WSS_URL CERT N SECONDS SEED");
    };
    // Godot's multiplayer server sends each client its id first.
    let greeted = kind == "godot_mp";
    let n: u64 = n.parse().unwrap();
    let secs: f64 = secs.parse().unwrap();
    let seed: u64 = seed.parse().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let counters = Arc::new(Counters::default());
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let tls = connector(Path::new(cert));
    rt.block_on(async {
        let players: Vec<_> = (0..n)
            .map(|i| {
                let (ws_url, wss_url) = (ws_url.clone(), wss_url.clone());
                let (counters, tls) = (counters.clone(), tls.clone());
                let rng = ((seed + i) * 0x9e37_79b9_7f4a_7c15) | 1;
                tokio::spawn(player(ws_url, wss_url, tls, counters, rng, end, greeted))
            })
            .collect();
        for p in players {
            let _ = p.await;
        }
    });
    let c = &counters;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    println!(
        "TOTALS {} {} {} {} {} {} {}",
        get(&c.connects),
        get(&c.connect_failures),
        get(&c.sent),
        get(&c.echoed),
        get(&c.clean),
        get(&c.cuts),
        get(&c.errors)
    );
    let rtt: Vec<String> = c
        .rtt_ms
        .iter()
        .enumerate()
        .filter(|(_, n)| get(n) > 0)
        .map(|(ms, n)| format!("{ms}:{}", get(n)))
        .collect();
    println!("RTT {}", rtt.join(" "));
}

/// One player until `end`: join, chat 5-40 s, leave (a quarter of the time by a cut),
/// wait 0-2 s, again. It stops joining 30 s before the end and leaves cleanly then.
async fn player(
    ws_url: String,
    wss_url: String,
    tls: Connector,
    counters: Arc<Counters>,
    mut rng: u64,
    end: Instant,
    greeted: bool,
) {
    // Joins spread over the first 10 s.
    tokio::time::sleep(Duration::from_millis(next(&mut rng) % 10_000)).await;
    while Instant::now() + Duration::from_secs(30) < end {
        let url = if next(&mut rng).is_multiple_of(10) {
            &wss_url
        } else {
            &ws_url
        };
        let connect =
            tokio_tungstenite::connect_async_tls_with_config(url, None, true, Some(tls.clone()));
        let opened = tokio::time::timeout(Duration::from_secs(30), async {
            let (mut ws, _) = connect.await.ok()?;
            if greeted {
                match ws.next().await {
                    Some(Ok(Message::Binary(id))) if id.len() == 4 => {}
                    _ => return None,
                }
            }
            Some(ws)
        });
        let mut ws = match opened.await {
            Ok(Some(ws)) => ws,
            _ => {
                counters.connect_failures.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        counters.connects.fetch_add(1, Ordering::Relaxed);
        let stay = Duration::from_millis(5_000 + next(&mut rng) % 35_000);
        let stay =
            stay.min(end.saturating_duration_since(Instant::now() + Duration::from_secs(20)));
        if !chat(&mut ws, &counters, &mut rng, stay).await {
            counters.errors.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if next(&mut rng).is_multiple_of(4) {
            cut(ws);
            counters.cuts.fetch_add(1, Ordering::Relaxed);
        } else {
            let closed = tokio::time::timeout(Duration::from_secs(20), async {
                ws.close(None).await.ok()?;
                while let Some(Ok(_)) = ws.next().await {}
                Some(())
            })
            .await;
            match closed {
                Ok(Some(())) => counters.clean.fetch_add(1, Ordering::Relaxed),
                _ => counters.errors.fetch_add(1, Ordering::Relaxed),
            };
        }
        tokio::time::sleep(Duration::from_millis(next(&mut rng) % 2_000)).await;
    }
}

/// Echo round trips are counted in 1 ms steps up to this many ms (the last one: more).
pub const RTT_STEPS: usize = 10_000;

/// The echo round-trip counts of a client process's RTT line, per ms.
pub fn round_trips(output: &str) -> Vec<u64> {
    let mut counts = vec![0u64; RTT_STEPS];
    let line = output
        .lines()
        .find_map(|l| l.strip_prefix("RTT"))
        .expect("an RTT line");
    for pair in line.split_whitespace() {
        let (ms, n) = pair.split_once(':').expect("ms:count");
        counts[ms.parse::<usize>().unwrap()] += n.parse::<u64>().unwrap();
    }
    counts
}

/// What all the client processes counted.
#[derive(Default, Debug)]
pub struct Totals {
    pub connects: u64,
    pub connect_failures: u64,
    pub sent: u64,
    pub echoed: u64,
    pub clean: u64,
    pub cuts: u64,
    pub errors: u64,
}

impl Totals {
    /// Adds the TOTALS line of a client process's output.
    pub fn add(&mut self, output: &str) {
        let line = output
            .lines()
            .find_map(|l| l.strip_prefix("TOTALS "))
            .expect("a TOTALS line");
        let v: Vec<u64> = line.split(' ').map(|x| x.parse().unwrap()).collect();
        self.connects += v[0];
        self.connect_failures += v[1];
        self.sent += v[2];
        self.echoed += v[3];
        self.clean += v[4];
        self.cuts += v[5];
        self.errors += v[6];
    }
}

impl std::fmt::Display for Totals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} connections ({} attempts failed), {} messages sent, {} echoed, {} clean closes, {} cuts, {} errors",
            self.connects,
            self.connect_failures,
            self.sent,
            self.echoed,
            self.clean,
            self.cuts,
            self.errors
        )
    }
}

/// Counters shared by one client process's players.
struct Counters {
    connects: AtomicU64,
    connect_failures: AtomicU64,
    sent: AtomicU64,
    echoed: AtomicU64,
    clean: AtomicU64,
    cuts: AtomicU64,
    errors: AtomicU64,
    /// Echo round trips, per ms.
    rtt_ms: Vec<AtomicU64>,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            connects: AtomicU64::new(0),
            connect_failures: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            echoed: AtomicU64::new(0),
            clean: AtomicU64::new(0),
            cuts: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            rtt_ms: (0..RTT_STEPS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

/// A connection of a player: ws or wss.
type Ws = tokio_tungstenite::WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Resets a connection: no close frame, no FIN.
fn cut(ws: Ws) {
    let tcp = match ws.get_ref() {
        MaybeTlsStream::Plain(s) => s,
        MaybeTlsStream::Rustls(s) => s.get_ref().0,
        _ => return,
    };
    let _ = socket2::SockRef::from(tcp).set_linger(Some(Duration::ZERO));
    drop(ws);
}

/// Sends and checks echoes for `for_how_long`; false on an error.
async fn chat(ws: &mut Ws, counters: &Counters, rng: &mut u64, for_how_long: Duration) -> bool {
    let end = Instant::now() + for_how_long;
    let mut sent = 0u64;
    while Instant::now() < end {
        let text = format!("m{sent}");
        let at = Instant::now();
        if ws.send(Message::text(text.clone())).await.is_err() {
            return false;
        }
        counters.sent.fetch_add(1, Ordering::Relaxed);
        sent += 1;
        // The echo comes before the next message (a player waits for the game's answer);
        // the heartbeat's pings are answered by tungstenite itself.
        loop {
            match tokio::time::timeout(Duration::from_secs(20), ws.next()).await {
                // Godot's multiplayer server answers in binary.
                Ok(Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))))
                    if m.clone().into_data() == text.as_bytes() =>
                {
                    counters.echoed.fetch_add(1, Ordering::Relaxed);
                    let ms = (at.elapsed().as_millis() as usize).min(RTT_STEPS - 1);
                    counters.rtt_ms[ms].fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                other => {
                    eprintln!("soak client: expected {text}, got {other:?}");
                    return false;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200 + next(rng) % 800)).await;
    }
    true
}

/// xorshift.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// The rustls client configuration that trusts the soak's certificate.
fn connector(cert: &Path) -> Connector {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    use tokio_rustls::rustls::{ClientConfig, RootCertStore};
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(cert).unwrap())
        .unwrap();
    Connector::Rustls(Arc::new(
        ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}
