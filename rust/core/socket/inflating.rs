//! The byte stream under a WebSocket, with permessage-deflate's inflation in front of the
//! frame reader when the client agreed to it ([`crate::core::compression::inflate`]).
//! Writes go to the socket unchanged (compressed frames are made whole by the writers).

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::core::compression::inflate::{InflateError, Transcoder};
use crate::core::socket::stream::ServerStream;

/// How much one read of a compressing connection takes at most.
const READ: usize = 16 * 1024;

thread_local! {
    /// Where a compressing connection's read lands before the transcoder takes it.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; READ]);
}

/// A connection's stream, inflating compressed messages when that was agreed.
pub(crate) struct Inflating {
    stream: ServerStream,
    /// Boxed: only compressing connections pay for it.
    transcoder: Option<Box<Transcoder>>,
}

impl Inflating {
    /// `stream` as it is (`inflate` false), or inflating, starting with `leftover` (bytes
    /// that came with the upgrade request); `limit`: the inbound limit, which a message's
    /// compressed bytes may not pass either. The leftover to give the frame reader is
    /// returned: none when inflating, as the transcoder reads it first.
    pub fn new(
        stream: ServerStream,
        leftover: Vec<u8>,
        inflate: bool,
        limit: usize,
    ) -> (Self, Vec<u8>) {
        if inflate {
            let transcoder = Some(Box::new(Transcoder::new(leftover, limit)));
            (Inflating { stream, transcoder }, Vec::new())
        } else {
            (
                Inflating {
                    stream,
                    transcoder: None,
                },
                leftover,
            )
        }
    }

    pub fn get_ref(&self) -> &ServerStream {
        &self.stream
    }

    pub fn get_mut(&mut self) -> &mut ServerStream {
        &mut self.stream
    }
}

/// The inflater's reason to fail the connection, when an I/O error is one: invalid
/// compressed data (1007), or a message over the limit (1009).
pub(crate) fn inflate_failure(error: &io::Error) -> Option<(u16, &'static str)> {
    let inner = error.get_ref()?.downcast_ref::<InflateError>()?;
    Some(inner.close())
}

impl AsyncRead for Inflating {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(transcoder) = this.transcoder.as_mut() else {
            return Pin::new(&mut this.stream).poll_read(cx, buf);
        };
        loop {
            transcoder
                .process()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let out = transcoder.output();
            if !out.is_empty() {
                let n = out.len().min(buf.remaining());
                buf.put_slice(&out[..n]);
                transcoder.take(n);
                return Poll::Ready(Ok(()));
            }
            let got = SCRATCH.with_borrow_mut(|scratch| {
                let mut read = ReadBuf::new(scratch);
                ready!(Pin::new(&mut this.stream).poll_read(cx, &mut read))?;
                transcoder.feed(read.filled());
                Poll::Ready(Ok::<_, io::Error>(read.filled().len()))
            });
            if ready!(got)? == 0 {
                return Poll::Ready(Ok(())); // the end of the stream
            }
        }
    }
}

impl AsyncWrite for Inflating {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
