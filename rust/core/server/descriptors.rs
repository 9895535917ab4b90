//! Out of file descriptors. The accept loop keeps one spare descriptor; when `accept()`
//! fails for want of one (`EMFILE`, `ENFILE`), it gives the spare up, takes the pending
//! connection, refuses it and takes the spare back. A client over the process's limit is
//! told at once instead of waiting in the backlog, the loop never spins on the error, and
//! the game hears of it at most once per [`REPORT_EVERY`].

use std::fs::File;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use tokio::net::TcpListener;

/// The shortest time between two reports of refusals for want of descriptors.
pub(crate) const REPORT_EVERY: Duration = Duration::from_secs(10);

/// What a plain (ws://) client refused for want of descriptors reads before the close.
const RESPONSE: &[u8] = concat!(
    "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n",
    "Content-Type: text/plain\r\nContent-Length: 56\r\n\r\n",
    "the server is out of file descriptors; try again later\r\n"
)
.as_bytes();

/// The spare descriptor and the refusals not reported yet.
pub(super) struct Spare {
    file: Option<File>,
    /// The process's limit, read while a descriptor is still free to read it with.
    limit: Option<u64>,
    last_report: Option<Instant>,
    unreported: u64,
}

impl Spare {
    /// Opens the spare (the null device).
    pub(super) fn new() -> Spare {
        Spare {
            file: open_spare(),
            limit: open_files_limit(),
            last_report: None,
            unreported: 0,
        }
    }

    /// Takes one connection waiting in the backlog with the spare descriptor and refuses
    /// it (an HTTP 503 first when `plain`: a TLS client just sees the connection close).
    /// False when there was no spare to give up (the caller backs off instead).
    pub(super) fn refuse_one(&mut self, listener: &TcpListener, plain: bool) -> bool {
        if self.file.take().is_none() {
            self.file = open_spare();
            return false;
        }
        if let Some(Ok((tcp, _))) = listener.accept().now_or_never() {
            // What the client sent already is read first, so that the close is a FIN
            // that keeps the answer, not a reset that can destroy it.
            let mut request = [0u8; 2048];
            let _ = tcp.try_read(&mut request);
            if plain {
                let _ = tcp.try_write(RESPONSE);
            }
            drop(tcp);
            self.unreported += 1;
        }
        self.file = open_spare();
        true
    }

    /// The refusals to report now, if the last report is at least [`REPORT_EVERY`] old,
    /// with the process's limit of open files.
    pub(super) fn report(&mut self) -> Option<(u64, Option<u64>)> {
        if self.unreported == 0 || self.last_report.is_some_and(|t| t.elapsed() < REPORT_EVERY) {
            return None;
        }
        self.last_report = Some(Instant::now());
        Some((std::mem::take(&mut self.unreported), self.limit))
    }
}

fn open_spare() -> Option<File> {
    File::open(if cfg!(windows) { "NUL" } else { "/dev/null" }).ok()
}

/// Whether `accept()` failed because the process or the system has no descriptor left.
pub(super) fn is_exhaustion(e: &std::io::Error) -> bool {
    // EMFILE and ENFILE (the same numbers on Linux and macOS); WSAEMFILE on Windows.
    let codes: &[i32] = if cfg!(windows) { &[10024] } else { &[23, 24] };
    e.raw_os_error().is_some_and(|c| codes.contains(&c))
}

/// The process's limit of open files (Linux: `/proc/self/limits`), when it can be read.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
