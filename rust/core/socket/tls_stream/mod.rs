//! A TLS connection over TCP that keeps no buffer while it is idle. rustls does the TLS:
//! its unbuffered connection ([`server_tls`]) makes the handshake and opens and seals
//! every record, with its own limits on what a peer may send. Reads land in a buffer of
//! the network thread's and are opened there; what rustls has to send goes through
//! another, and only a record not yet whole, application data not yet read and bytes
//! the socket has not taken yet stay with the connection.

mod server_tls;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls::ServerConfig;

pub(crate) use server_tls::{ServerTls, Then};

/// How much one read from the socket takes at most.
const READ_SIZE: usize = 32 * 1024;
/// How much application data one write seals at most (four records).
const WRITE_SIZE: usize = 4 * 16 * 1024;
/// Reading stops while more than this waits to be sent: more than one write leaves, so
/// only answers to a peer that sends and never reads (rustls' key updates and alerts)
/// reach it. The peer is then held back by TCP, as a plain connection's is.
const UNSENT_LIMIT: usize = WRITE_SIZE + 16 * 1024;
/// A record is at most 16 KiB and some bytes; a handshake message rustls joins from
/// several records at most 64 KiB. More bytes than this without a whole one end the
/// connection.
const INCOMING_LIMIT: usize = 2 * 64 * 1024;

thread_local! {
    /// Where a read lands; whole records are opened in place.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_SIZE]);
    /// What rustls has to send, before the socket takes it.
    static OUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// Opened application data, before the reader takes it.
    static OPENED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A server-side TLS connection over TCP.
pub(crate) struct TlsStream {
    tcp: TcpStream,
    tls: ServerTls,
    /// Bytes read and not yet a whole record.
    incoming: Vec<u8>,
    /// Opened application data not yet read, from `plain_at` on.
    plain: Vec<u8>,
    plain_at: usize,
    /// Bytes for the peer the socket has not taken yet, from `unsent_at` on.
    unsent: Vec<u8>,
    unsent_at: usize,
    /// The peer closed the TCP connection.
    eof: bool,
}

impl TlsStream {
    /// Makes the TLS handshake on `tcp`.
    pub async fn accept(config: Arc<ServerConfig>, tcp: TcpStream) -> io::Result<Self> {
        let mut stream = TlsStream {
            tcp,
            tls: ServerTls::new(config)?,
            incoming: Vec::new(),
            plain: Vec::new(),
            plain_at: 0,
            unsent: Vec::new(),
            unsent_at: 0,
            eof: false,
        };
        while stream.tls.is_handshaking() {
            poll_fn(|cx| stream.poll_send(cx)).await?;
            let mut plain = std::mem::take(&mut stream.plain);
            let read = poll_fn(|cx| stream.poll_fill(cx, &mut plain)).await;
            stream.plain = plain;
            if read? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        poll_fn(|cx| stream.poll_send(cx)).await?;
        stream.plain.shrink_to_fit();
        Ok(stream)
    }

    /// The TCP connection under it.
    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// Reads from the socket once and hands rustls what arrived: the application data it
    /// opened is appended to `plain`, and what it answers is sent if the socket takes it.
    /// The number of bytes read (0: the peer closed).
    fn poll_fill(&mut self, cx: &mut Context<'_>, plain: &mut Vec<u8>) -> Poll<io::Result<usize>> {
        SCRATCH.with_borrow_mut(|scratch| {
            let mut room = ReadBuf::new(scratch);
            ready!(Pin::new(&mut self.tcp).poll_read(cx, &mut room))?;
            let n = room.filled().len();
            if n == 0 {
                self.eof = true;
                return Poll::Ready(Ok(0));
            }
            let processed = OUT.with_borrow_mut(|out| {
                out.clear();
                let processed = if self.incoming.is_empty() {
                    // Opened where they landed; only a record not yet whole is kept.
                    let r = self
                        .tls
                        .process(&mut scratch[..n], out, plain, Then::Nothing);
                    if let Ok(p) = &r {
                        self.incoming.extend_from_slice(&scratch[p.consumed..n]);
                    }
                    r
                } else {
                    self.incoming.extend_from_slice(&scratch[..n]);
                    let r = self
                        .tls
                        .process(&mut self.incoming, out, plain, Then::Nothing);
                    if let Ok(p) = &r {
                        self.incoming.drain(..p.consumed);
                    }
                    r
                };
                // rustls' answers (an alert too, on an error): sent now if they fit.
                self.queue(out, cx);
                processed
            });
            processed?;
            if self.incoming.is_empty() {
                self.incoming = Vec::new();
            } else if self.incoming.len() > INCOMING_LIMIT {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "TLS: too many bytes without a whole record",
                )));
            }
            Poll::Ready(Ok(n))
        })
    }

    /// Sends `out` after what waits already; what the socket does not take now waits.
    fn queue(&mut self, out: &[u8], cx: &mut Context<'_>) {
        if out.is_empty() {
            return;
        }
        let mut written = 0;
        if self.unsent.is_empty() {
            while written < out.len() {
                match Pin::new(&mut self.tcp).poll_write(cx, &out[written..]) {
                    Poll::Ready(Ok(n)) if n > 0 => written += n,
                    // Pending, or an error the next send reports.
                    _ => break,
                }
            }
        }
        self.unsent.extend_from_slice(&out[written..]);
    }

    /// Writes what waits until all is written or the socket is full.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.unsent_at < self.unsent.len() {
            let n = ready!(Pin::new(&mut self.tcp).poll_write(cx, &self.unsent[self.unsent_at..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.unsent_at += n;
        }
        self.unsent = Vec::new();
        self.unsent_at = 0;
        Poll::Ready(Ok(()))
    }

    /// Has rustls seal `then` and sends it (what the socket does not take waits).
    fn seal(&mut self, then: Then<'_>, cx: &mut Context<'_>) -> io::Result<usize> {
        OUT.with_borrow_mut(|out| {
            out.clear();
            let processed = self
                .tls
                .process(&mut self.incoming, out, &mut self.plain, then);
            if let Ok(p) = &processed {
                self.incoming.drain(..p.consumed);
            }
            self.queue(out, cx);
            processed.map(|p| p.written)
        })
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.plain_at < this.plain.len() {
                let n = buf.remaining().min(this.plain.len() - this.plain_at);
                buf.put_slice(&this.plain[this.plain_at..this.plain_at + n]);
                this.plain_at += n;
                if this.plain_at == this.plain.len() {
                    this.plain = Vec::new();
                    this.plain_at = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.tls.is_peer_closed() || this.eof {
                // A peer that closes without close_notify has still ended cleanly for a
                // WebSocket, which has its own close handshake; in the middle of a record
                // it has not.
                if this.incoming.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
            }
            if this.unsent.len() - this.unsent_at > UNSENT_LIMIT {
                ready!(this.poll_send(cx))?;
            }
            // Opened data goes to the reader at once; only what does not fit waits here.
            let given = OPENED.with_borrow_mut(|opened| {
                opened.clear();
                this.poll_fill(cx, opened).map_ok(|_| {
                    let n = buf.remaining().min(opened.len());
                    buf.put_slice(&opened[..n]);
                    this.plain.extend_from_slice(&opened[n..]);
                    n
                })
            });
            if ready!(given)? > 0 {
                return Poll::Ready(Ok(()));
            }
        }
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // The socket takes more only once what waits is sent.
        ready!(this.poll_send(cx))?;
        let data = &buf[..buf.len().min(WRITE_SIZE)];
        Poll::Ready(this.seal(Then::Write(data), cx))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send(cx))?;
        // close_notify once (nothing after a failure); then the TCP connection's end.
        let _ = this.seal(Then::Close, cx);
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}
