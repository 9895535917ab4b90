//! Read-ahead for small reads. While the messages it decoded are still waiting for the
//! game, tungstenite's read buffer is shared with them, and it then asks the socket for
//! one frame header (14 bytes) or one payload at a time: a system call per header and
//! per payload. A small read is served from one larger read instead; what it did not
//! take is kept only until it is consumed, so an idle connection keeps nothing.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, ReadBuf};

/// Reads asking for less than this are served from a larger read.
const SMALL: usize = 1024;
/// How much a larger read takes at most.
const AHEAD: usize = 16 * 1024;

thread_local! {
    /// Where a larger read lands before the caller's part is copied out.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; AHEAD]);
}

/// Bytes read from the socket and not yet given to the reader.
#[derive(Default)]
pub(crate) struct ReadAhead {
    rest: Vec<u8>,
    at: usize,
}

impl ReadAhead {
    /// Reads into `buf` from what is kept, else from `inner` (through a larger read when
    /// `buf` is small).
    pub fn poll_read<R: AsyncRead + Unpin>(
        &mut self,
        inner: &mut R,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.at < self.rest.len() {
            let n = buf.remaining().min(self.rest.len() - self.at);
            buf.put_slice(&self.rest[self.at..self.at + n]);
            self.at += n;
            if self.at == self.rest.len() {
                *self = ReadAhead::default();
            }
            return Poll::Ready(Ok(()));
        }
        if buf.remaining() >= SMALL {
            return Pin::new(inner).poll_read(cx, buf);
        }
        SCRATCH.with_borrow_mut(|scratch| {
            let mut ahead = ReadBuf::new(scratch);
            ready!(Pin::new(inner).poll_read(cx, &mut ahead))?;
            let got = ahead.filled();
            let n = buf.remaining().min(got.len());
            buf.put_slice(&got[..n]);
            if n < got.len() {
                self.rest = got[n..].to_vec();
            }
            Poll::Ready(Ok(()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out its bytes in pieces of `piece`, counting its reads.
    struct Source {
        data: Vec<u8>,
        at: usize,
        piece: usize,
        reads: usize,
    }

    impl AsyncRead for Source {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            self.reads += 1;
            let n = buf
                .remaining()
                .min(self.piece)
                .min(self.data.len() - self.at);
            let at = self.at;
            buf.put_slice(&self.data[at..at + n]);
            self.at += n;
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn small_reads_are_served_from_one_read_in_order() {
        let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let mut src = Source {
            data: data.clone(),
            at: 0,
            piece: usize::MAX,
            reads: 0,
        };
        let mut ahead = ReadAhead::default();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut out = Vec::new();
        while out.len() < data.len() {
            let mut small = [0u8; 14];
            let mut buf = ReadBuf::new(&mut small);
            assert!(ahead.poll_read(&mut src, &mut cx, &mut buf).is_ready());
            assert!(!buf.filled().is_empty());
            out.extend_from_slice(buf.filled());
        }
        assert_eq!(out, data);
        assert_eq!(src.reads, 1, "one read of the socket for 358 small reads");
        assert!(ahead.rest.capacity() == 0, "nothing kept once consumed");
    }

    #[test]
    fn large_reads_go_straight_to_the_socket() {
        let mut src = Source {
            data: vec![7; 3000],
            at: 0,
            piece: 1000,
            reads: 0,
        };
        let mut ahead = ReadAhead::default();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut big = vec![0u8; 4096];
        let mut buf = ReadBuf::new(&mut big);
        assert!(ahead.poll_read(&mut src, &mut cx, &mut buf).is_ready());
        assert_eq!(buf.filled().len(), 1000);
        assert_eq!(ahead.rest.len(), 0);
    }
}
