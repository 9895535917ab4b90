//! A TLS connection that keeps no buffer while it is idle. rustls makes the handshake
//! (`handshake`); after it, records are sealed and opened here with the keys rustls
//! negotiated (`records`), and rustls' `KernelConnection` computes the keys of TLS 1.3
//! key updates. rustls' own buffered connection keeps a 4 KiB read buffer and its
//! handshake state for the life of the connection; this keeps two keys, and buffers
//! only while a record is arriving or leaving.

mod handshake;
pub(crate) mod records;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls::kernel::KernelConnection;
use tokio_rustls::rustls::server::ServerConnectionData;
use tokio_rustls::rustls::{ServerConfig, SupportedCipherSuite};

use records::{
    ALERT, APPLICATION_DATA, BadRecord, HANDSHAKE, INTERNAL_ERROR, KEY_UPDATE, Keys,
    NO_RENEGOTIATION, UNEXPECTED_MESSAGE, Version,
};

/// How much one read from the socket takes at most.
const READ_SIZE: usize = 32 * 1024;

thread_local! {
    /// Where a read lands before its bytes join the connection's own (the handshake's
    /// reads too).
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_SIZE]);
}

/// A server-side TLS connection over TCP, after its handshake.
pub(crate) struct LeanTls {
    tcp: TcpStream,
    kernel: KernelConnection<ServerConnectionData>,
    version: Version,
    rx: Keys,
    tx: Keys,
    /// Records sealed with `tx` after this many need new keys (TLS 1.3) or the end of
    /// the connection (TLS 1.2).
    tx_limit: u64,
    /// Bytes read and not yet a whole record.
    incoming: Vec<u8>,
    /// Decrypted application data not yet read, from `plain_at` on.
    plain: Vec<u8>,
    plain_at: usize,
    /// Sealed records not yet written, from `out_at` on.
    outgoing: Vec<u8>,
    out_at: usize,
    /// The peer sent close_notify.
    read_closed: bool,
    /// close_notify is sealed into `outgoing`.
    write_closed: bool,
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl From<BadRecord> for io::Error {
    fn from(e: BadRecord) -> Self {
        invalid(format!("TLS: {}", e.0))
    }
}

impl LeanTls {
    /// Makes the TLS handshake on `tcp`. `config` must have `enable_secret_extraction`.
    pub async fn accept(config: Arc<ServerConfig>, mut tcp: TcpStream) -> io::Result<Self> {
        let done = handshake::handshake(config, &mut tcp).await?;
        let rx = Keys::new(done.secrets.rx.0, &done.secrets.rx.1)?;
        let tx = Keys::new(done.secrets.tx.0, &done.secrets.tx.1)?;
        let tx_limit = match done.kernel.negotiated_cipher_suite() {
            SupportedCipherSuite::Tls13(s) => s.common.confidentiality_limit,
            SupportedCipherSuite::Tls12(s) => s.common.confidentiality_limit,
        };
        Ok(LeanTls {
            tcp,
            kernel: done.kernel,
            version: done.version,
            rx,
            tx,
            tx_limit,
            incoming: done.unread,
            plain: done.plain,
            plain_at: 0,
            outgoing: Vec::new(),
            out_at: 0,
            read_closed: false,
            write_closed: false,
        })
    }

    /// The TCP connection under it.
    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// Seals `data` into records (at most 16 KiB of plaintext each), taking new keys
    /// at the confidentiality limit.
    fn seal(&mut self, kind: u8, data: &[&[u8]]) -> io::Result<()> {
        let mut parts: Vec<&[u8]> = Vec::new();
        let mut size = 0;
        let mut pieces = data.iter().copied().filter(|d| !d.is_empty()).peekable();
        if pieces.peek().is_none() {
            return Ok(());
        }
        for mut piece in pieces {
            while !piece.is_empty() {
                let take = piece.len().min(records::MAX_PLAINTEXT - size);
                parts.push(&piece[..take]);
                size += take;
                piece = &piece[take..];
                if size == records::MAX_PLAINTEXT {
                    self.seal_one(kind, &parts)?;
                    parts.clear();
                    size = 0;
                }
            }
        }
        if size > 0 {
            self.seal_one(kind, &parts)?;
        }
        Ok(())
    }

    fn seal_one(&mut self, kind: u8, parts: &[&[u8]]) -> io::Result<()> {
        match self.version {
            Version::Tls12 { .. } if self.tx.seq() >= self.tx_limit => {
                return Err(invalid("TLS 1.2 connection at its cipher's record limit"));
            }
            // The KeyUpdate is the last record the old keys seal.
            Version::Tls13 if self.tx.seq() + 1 >= self.tx_limit => self.update_tx_keys(false)?,
            _ => {}
        }
        self.tx.seal(self.version, kind, parts, &mut self.outgoing);
        Ok(())
    }

    /// Sends a KeyUpdate with the current keys, then takes the next ones.
    fn update_tx_keys(&mut self, request: bool) -> io::Result<()> {
        self.tx.seal(
            self.version,
            HANDSHAKE,
            &[&[KEY_UPDATE, 0, 0, 1, request as u8]],
            &mut self.outgoing,
        );
        let (seq, secrets) = self.kernel.update_tx_secret().map_err(invalid)?;
        self.tx = Keys::new(seq, &secrets)?;
        Ok(())
    }

    /// Writes sealed records until all are written or the socket is full.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.out_at < self.outgoing.len() {
            let n = ready!(Pin::new(&mut self.tcp).poll_write(cx, &self.outgoing[self.out_at..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out_at += n;
        }
        self.outgoing = Vec::new();
        self.out_at = 0;
        Poll::Ready(Ok(()))
    }

    /// Opens the whole records in `incoming`, keeping application data in `plain`.
    fn open_records(&mut self) -> Result<(), BadRecord> {
        let mut at = 0;
        while !self.read_closed {
            let Some(len) = records::whole_record(&self.incoming[at..])? else {
                break;
            };
            let record = &mut self.incoming[at..at + len];
            at += len;
            let (kind, range) = self.rx.open(self.version, record)?;
            let body = &record[range];
            match kind {
                APPLICATION_DATA => self.plain.extend_from_slice(body),
                ALERT => self.read_closed = records::alert(self.version, body)?,
                HANDSHAKE => match records::key_update(self.version, body)? {
                    Some(requested) => {
                        let key_update_failed = || BadRecord("key update failed", INTERNAL_ERROR);
                        let (seq, secrets) = self
                            .kernel
                            .update_rx_secret()
                            .map_err(|_| key_update_failed())?;
                        self.rx = Keys::new(seq, &secrets)?;
                        if requested {
                            self.update_tx_keys(false)
                                .map_err(|_| key_update_failed())?;
                        }
                    }
                    None => self.tx.seal(
                        self.version,
                        ALERT,
                        &[&[1, NO_RENEGOTIATION]],
                        &mut self.outgoing,
                    ),
                },
                _ => return Err(BadRecord("unexpected record type", UNEXPECTED_MESSAGE)),
            }
        }
        if at == self.incoming.len() {
            self.incoming = Vec::new();
        } else {
            self.incoming.drain(..at);
        }
        Ok(())
    }
}

impl AsyncRead for LeanTls {
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
            if this.read_closed {
                return Poll::Ready(Ok(()));
            }
            let got = ready!(SCRATCH.with_borrow_mut(|scratch| {
                let mut room = ReadBuf::new(scratch);
                let read = Pin::new(&mut this.tcp).poll_read(cx, &mut room);
                read.map_ok(|()| {
                    this.incoming.extend_from_slice(room.filled());
                    room.filled().len()
                })
            }))?;
            if got == 0 {
                if this.incoming.is_empty() {
                    // A peer that closes without close_notify has still ended cleanly
                    // for a WebSocket, which has its own close handshake.
                    this.read_closed = true;
                    return Poll::Ready(Ok(()));
                }
                return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
            }
            if let Err(bad) = this.open_records() {
                // The alert that says why, if the socket takes it now; then the end.
                if let Some(alert) = bad.1 {
                    this.tx
                        .seal(this.version, ALERT, &[&[2, alert]], &mut this.outgoing);
                    let _ = this.poll_send(cx);
                }
                return Poll::Ready(Err(bad.into()));
            }
            if this.out_at < this.outgoing.len() {
                // A key update's answer: sent now if the socket takes it, else with the
                // next write or flush.
                let _ = this.poll_send(cx)?;
            }
        }
    }
}

impl AsyncWrite for LeanTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.write_closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        ready!(this.poll_send(cx))?;
        // Up to four records at a time, so a large write is sent while it is sealed.
        let mut budget = 4 * records::MAX_PLAINTEXT;
        let mut parts: Vec<&[u8]> = Vec::with_capacity(bufs.len());
        for b in bufs {
            if budget == 0 {
                break;
            }
            let take = b.len().min(budget);
            parts.push(&b[..take]);
            budget -= take;
        }
        let taken = 4 * records::MAX_PLAINTEXT - budget;
        this.seal(APPLICATION_DATA, &parts)?;
        if let Poll::Ready(Err(e)) = this.poll_send(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(taken))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.write_closed {
            ready!(this.poll_send(cx))?;
            this.tx
                .seal(this.version, ALERT, &[&[1, 0]], &mut this.outgoing);
            this.write_closed = true;
        }
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}
