//! Direct writes: a message for an idle plain-TCP connection is framed and written to its
//! socket by the thread that sends it, without waking the connection task. Broadcasts to
//! many peers then cost one system call per peer and nothing else.
//!
//! The connection task and direct writers share the socket's write half under one lock.
//! A direct write happens only at a frame boundary and when nothing of the peer is queued
//! (the caller checks the latter under the lock); whatever it could not write at once is
//! kept here and written first by the connection task, so frames never interleave.

use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::core::socket::read_ahead::ReadAhead;

/// Frames up to this size are copied into one buffer for a single `write`; larger ones
/// are written from two parts.
const CONTIGUOUS: usize = 16 * 1024;

thread_local! {
    /// A frame being written directly (at most `CONTIGUOUS` bytes).
    static FRAME: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The write half of a plain connection, shared by its task and direct writers.
#[derive(Default)]
pub(crate) struct DirectWriter {
    side: Mutex<WriteSide>,
}

#[derive(Default)]
struct WriteSide {
    /// `None` once the connection task has ended.
    half: Option<OwnedWriteHalf>,
    /// The task's last write stopped inside a frame.
    mid_frame: bool,
    /// The unwritten end of a direct write, written before anything else.
    carry: Vec<u8>,
}

/// What became of a direct write.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Direct {
    /// Handed to the socket whole.
    Written,
    /// Partly handed to the socket; the connection task must flush the rest.
    Partly,
    /// Not written: queue it for the connection task instead.
    NotNow,
}

impl DirectWriter {
    /// Writes one unmasked WebSocket data frame (RSV1 set for a `compressed` payload)
    /// when the socket is idle and `idle()` (checked under the lock) says nothing else is
    /// waiting.
    pub fn try_send(
        &self,
        data: &[u8],
        is_text: bool,
        compressed: bool,
        idle: impl FnOnce() -> bool,
    ) -> Direct {
        let mut side = self.side.lock();
        if side.mid_frame || !side.carry.is_empty() || !idle() {
            return Direct::NotNow;
        }
        let WriteSide { half, carry, .. } = &mut *side;
        let Some(half) = half.as_ref() else {
            return Direct::NotNow;
        };
        let (header, header_len) = frame_header(data.len(), is_text, compressed);
        let header = &header[..header_len];
        let total = header.len() + data.len();
        let result = if total <= CONTIGUOUS {
            // One contiguous write: cheaper in the kernel than a two-part writev.
            FRAME.with_borrow_mut(|frame| {
                frame.clear();
                frame.extend_from_slice(header);
                frame.extend_from_slice(data);
                half.try_write(frame)
            })
        } else {
            half.try_write_vectored(&[IoSlice::new(header), IoSlice::new(data)])
        };
        if let Ok(n) = result
            && n > 0
            && n < total
        {
            if n < header.len() {
                carry.extend_from_slice(&header[n..]);
                carry.extend_from_slice(data);
            } else {
                carry.extend_from_slice(&data[n - header.len()..]);
            }
        }
        match result {
            Ok(n) if n == total => Direct::Written,
            Ok(n) if n > 0 => Direct::Partly,
            // Not writable now, or broken: the connection task finds out and reports it.
            _ => Direct::NotNow,
        }
    }
}

/// The header of a final, unmasked data frame with `len` payload bytes (RSV1 set when
/// `compressed`).
fn frame_header(len: usize, is_text: bool, compressed: bool) -> ([u8; 10], usize) {
    let mut h = [0u8; 10];
    h[0] = 0x80 | if compressed { 0x40 } else { 0 } | if is_text { 0x1 } else { 0x2 };
    if len < 126 {
        h[1] = len as u8;
        (h, 2)
    } else if len <= usize::from(u16::MAX) {
        h[1] = 126;
        h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        (h, 4)
    } else {
        h[1] = 127;
        h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        (h, 10)
    }
}

/// A plain TCP connection whose write half is shared with direct writers.
pub(crate) struct SharedTcp {
    read: OwnedReadHalf,
    ahead: ReadAhead,
    write: Arc<DirectWriter>,
}

impl SharedTcp {
    /// Splits `tcp`; the writer is for the peer's direct writes.
    pub fn new(tcp: TcpStream) -> (Self, Arc<DirectWriter>) {
        let (read, half) = tcp.into_split();
        let write = Arc::new(DirectWriter::default());
        write.side.lock().half = Some(half);
        (
            SharedTcp {
                read,
                ahead: ReadAhead::default(),
                write: write.clone(),
            },
            write,
        )
    }

    pub fn tcp(&self) -> &TcpStream {
        self.read.as_ref()
    }
}

impl Drop for SharedTcp {
    fn drop(&mut self) {
        // The socket closes with the read half, as a whole TcpStream would (no early
        // FIN), and direct writers see that it is gone.
        if let Some(half) = self.write.side.lock().half.take() {
            half.forget();
        }
    }
}

impl WriteSide {
    /// Writes the carried bytes of a direct write; ready once there are none.
    fn poll_carry(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.carry.is_empty() {
            let half = self.half.as_mut().ok_or_else(gone)?;
            let n = ready!(Pin::new(half).poll_write(cx, &self.carry))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.carry.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection closed")
}

impl AsyncRead for SharedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.ahead.poll_read(&mut this.read, cx, buf)
    }
}

impl AsyncWrite for SharedTcp {
    /// Writes whole frames given by tungstenite (its buffer holds only whole frames, so a
    /// complete write ends on a frame boundary).
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut side = self.write.side.lock();
        ready!(side.poll_carry(cx))?;
        let half = side.half.as_mut().ok_or_else(gone)?;
        let n = ready!(Pin::new(half).poll_write(cx, buf))?;
        side.mid_frame = n < buf.len();
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut side = self.write.side.lock();
        ready!(side.poll_carry(cx))?;
        match side.half.as_mut() {
            Some(half) => Pin::new(half).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut side = self.write.side.lock();
        ready!(side.poll_carry(cx))?;
        match side.half.as_mut() {
            Some(half) => Pin::new(half).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_follow_rfc_6455_lengths() {
        assert_eq!(
            frame_header(5, true, false),
            ([0x81, 5, 0, 0, 0, 0, 0, 0, 0, 0], 2)
        );
        assert_eq!(
            frame_header(5, true, true).0[0],
            0xc1,
            "RSV1 for compressed"
        );
        let (h, n) = frame_header(126, false, false);
        assert_eq!((&h[..n], n), (&[0x82, 126, 0, 126][..], 4));
        let (h, n) = frame_header(65_536, false, false);
        assert_eq!(&h[..n], &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    }
}
