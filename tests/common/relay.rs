//! A TCP relay between clients and a server whose connections a test (or the benchmark)
//! cuts for real: a reset both ways, or a blackhole. Used by tests/ and benches/engine/.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A TCP relay to `target`: every connection through it can be cut at once, without a
/// close frame or FIN (a reset), as a network failure does.
pub struct Relay {
    pub port: u16,
    cut: watch::Sender<usize>,
    freeze: watch::Sender<usize>,
    pub live: Arc<AtomicUsize>,
}

impl Relay {
    pub async fn start(target: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, cuts) = watch::channel(0);
        let (freeze, freezes) = watch::channel(0);
        let live = Arc::new(AtomicUsize::new(0));
        let counter = live.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let mut cuts = cuts.clone();
                let mut freezes = freezes.clone();
                let live = counter.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(("127.0.0.1", target)).await else {
                        return;
                    };
                    live.fetch_add(1, Ordering::SeqCst);
                    let (mut a, mut b) = (inbound, outbound);
                    let _ = a.set_nodelay(true);
                    let _ = b.set_nodelay(true);
                    cuts.borrow_and_update();
                    freezes.borrow_and_update();
                    tokio::select! {
                        // A blackhole: nothing forwarded, nothing closed (a NAT that forgot).
                        _ = freezes.changed() => {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        }
                        _ = tokio::io::copy_bidirectional(&mut a, &mut b) => {}
                        _ = cuts.changed() => {
                            // A reset both ways: no close frame, no FIN.
                            for s in [&a, &b] {
                                let _ = socket2::SockRef::from(s).set_linger(Some(Duration::ZERO));
                            }
                        }
                    }
                    live.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Relay {
            port,
            cut,
            freeze,
            live,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.port)
    }

    /// Stops forwarding on every connection through the relay, closing none.
    pub fn freeze(&self) {
        self.freeze.send_modify(|n| *n += 1);
    }

    /// Cuts every connection through the relay now.
    pub fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}
