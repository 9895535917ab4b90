//! What the machine under the benchmark costs, printed at the top of a run so that runs on
//! different machines can be set side by side.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

/// Nanoseconds per system call: a non-blocking read of an empty loopback socket, the call
/// a server that polls every socket makes for each idle one (the median of 5 rounds).
pub(crate) fn syscall_ns() -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let _accepted = listener.accept().unwrap();
    stream.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    const CALLS: u32 = 200_000;
    let mut rounds: Vec<f64> = (0..5)
        .map(|_| {
            let t0 = Instant::now();
            for _ in 0..CALLS {
                let r = stream.read(&mut buf);
                assert!(r.is_err(), "the probe's socket must stay empty");
            }
            t0.elapsed().as_nanos() as f64 / f64::from(CALLS)
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[2]
}
