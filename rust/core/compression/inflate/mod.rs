//! Inflating incoming messages (RFC 7692 section 7.2.2) in front of the frame reader:
//! the bytes from the socket go through a [`Transcoder`], which passes every frame through
//! unchanged except the frames of a compressed message, which it inflates and hands on as
//! the uncompressed fragments of that message (masked with a zero key, as a client's frames
//! must be). The frame reader then checks and assembles them as any other message: the
//! inbound size limit, UTF-8 and the protocol's rules hold after decompression.
//!
//! Inflation is lazy: at most [`CHUNK`] bytes are made before the reader takes them, so a
//! small frame that inflates to 100 MB costs no more memory than the inbound limit allows
//! the reader to collect before it refuses the message (close code 1009).
//!
//! Frames the extension does not define (RSV1 on a control frame or a continuation, a
//! compressed frame inside another message, an unmasked frame) are passed through as they
//! came, for the frame reader to refuse.

use std::cell::RefCell;

use flate2::{Decompress, FlushDecompress, Status};

/// Most inflated bytes made before the reader takes them.
pub(crate) const CHUNK: usize = 16 * 1024;
/// The octets the sender left out of each message, appended before inflating its end.
const TAIL: [u8; 4] = [0, 0, 0xff, 0xff];
const CONTINUATION: u8 = 0x0;

thread_local! {
    /// Where inflated bytes land before they are framed.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(CHUNK));
    /// An inflater kept for the next compressed message read on this thread.
    static SPARE: RefCell<Option<Decompress>> = const { RefCell::new(None) };
}

/// Why a compressed message could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// Invalid DEFLATE data (close code 1007).
    BadData,
    /// More compressed bytes than the inbound limit, whatever they inflate to (1009).
    TooBig,
}

impl InflateError {
    /// The close code and reason the connection fails with.
    pub fn close(self) -> (u16, &'static str) {
        match self {
            InflateError::BadData => (1007, "invalid compressed data"),
            InflateError::TooBig => (1009, "message too big"),
        }
    }
}

impl std::fmt::Display for InflateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.close().1)
    }
}

impl std::error::Error for InflateError {}

use InflateError::{BadData, TooBig};

/// Where the transcoder is in the incoming frames.
#[derive(Debug, Clone, Copy)]
enum Frame {
    /// Waiting for a frame header.
    Header,
    /// Passing `left` payload bytes on unchanged.
    Pass { left: u64 },
    /// Inflating a compressed frame: `left` payload bytes to go, of which `clear` (from
    /// the input's start) are unmasked already; `fin` ends the message.
    Inflate {
        left: u64,
        mask: [u8; 4],
        phase: usize,
        clear: usize,
        fin: bool,
    },
    /// The message's payload is in: inflating the tail, `fed` of its octets given.
    Finish { fed: usize },
}

/// Rewrites the incoming byte stream of one connection with permessage-deflate.
pub(crate) struct Transcoder {
    /// Bytes from the socket not yet rewritten (kept only while there are some).
    input: Vec<u8>,
    /// Rewritten bytes the reader has not taken, from `taken` on.
    output: Vec<u8>,
    taken: usize,
    frame: Frame,
    /// The inflater of the compressed message in progress.
    inflater: Option<Decompress>,
    /// A message sent uncompressed is in progress (its continuations pass through).
    plain_message: bool,
    /// Compressed bytes of the message in progress, and the most allowed (the inbound
    /// limit: a message of empty DEFLATE blocks must not go on for ever).
    compressed: u64,
    limit: u64,
}

impl Transcoder {
    /// A transcoder whose first bytes are `leftover` (read with the upgrade request);
    /// `limit`: the most compressed bytes one message may have.
    pub fn new(leftover: Vec<u8>, limit: usize) -> Self {
        Transcoder {
            input: leftover,
            output: Vec::new(),
            taken: 0,
            frame: Frame::Header,
            inflater: None,
            plain_message: false,
            compressed: 0,
            limit: limit as u64,
        }
    }

    /// Adds bytes read from the socket.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
    }

    /// Rewritten bytes waiting for the reader.
    pub fn output(&self) -> &[u8] {
        &self.output[self.taken..]
    }

    /// The reader took `n` bytes of [`Transcoder::output`].
    pub fn take(&mut self, n: usize) {
        self.taken += n;
        if self.taken == self.output.len() {
            self.output = Vec::new();
            self.taken = 0;
        }
    }

    /// Rewrites input until there is output or more input is needed.
    pub fn process(&mut self) -> Result<(), InflateError> {
        while self.output().is_empty() {
            let progressed = match self.frame {
                Frame::Header => self.header()?,
                Frame::Pass { left } => self.pass(left),
                Frame::Inflate { .. } => self.inflate()?,
                Frame::Finish { fed } => self.finish(fed)?,
            };
            if !progressed {
                break;
            }
        }
        if self.input.is_empty() {
            self.input = Vec::new();
        }
        Ok(())
    }

    /// Reads a frame header once it is all in; false when it is not.
    fn header(&mut self) -> Result<bool, InflateError> {
        let Some((len, header_len, mask)) = parse_header(&self.input) else {
            return Ok(false);
        };
        let (b0, masked) = (self.input[0], mask.is_some());
        let (fin, rsv1, opcode) = (b0 & 0x80 != 0, b0 & 0x40 != 0, b0 & 0x0f);
        let is_data = opcode == 0x1 || opcode == 0x2;
        let in_message = self.inflater.is_some() || self.plain_message;
        let starts = rsv1 && is_data && !in_message && masked;
        let continues = !rsv1 && opcode == CONTINUATION && self.inflater.is_some() && masked;
        if starts || continues {
            if starts {
                self.inflater = Some(SPARE.take().unwrap_or_else(|| Decompress::new(false)));
                push_frame(&mut self.output, false, opcode, &[]);
                self.compressed = 0;
            }
            self.compressed = self.compressed.saturating_add(len);
            if self.compressed > self.limit {
                return Err(TooBig);
            }
            self.input.drain(..header_len);
            self.frame = Frame::Inflate {
                left: len,
                mask: mask.unwrap_or_default(),
                phase: 0,
                clear: 0,
                fin,
            };
            return Ok(true);
        }
        // Passed on as it came; a plain message's fragments are followed.
        if is_data && !in_message && !rsv1 {
            self.plain_message = !fin;
        } else if opcode == CONTINUATION && self.plain_message && fin {
            self.plain_message = false;
        }
        self.output.extend(self.input.drain(..header_len));
        self.frame = Frame::Pass { left: len };
        Ok(true)
    }

    fn pass(&mut self, left: u64) -> bool {
        if left == 0 {
            self.frame = Frame::Header;
            return true;
        }
        let n = (self.input.len() as u64).min(left) as usize;
        if n == 0 {
            return false;
        }
        self.output.extend(self.input.drain(..n));
        self.frame = Frame::Pass {
            left: left - n as u64,
        };
        true
    }

    /// Inflates what is in of a compressed frame's payload.
    fn inflate(&mut self) -> Result<bool, InflateError> {
        let Frame::Inflate {
            left,
            mask,
            phase,
            mut clear,
            fin,
        } = self.frame
        else {
            unreachable!("called in Inflate only")
        };
        if left == 0 {
            self.frame = if fin {
                Frame::Finish { fed: 0 }
            } else {
                Frame::Header
            };
            return Ok(true);
        }
        let have = (self.input.len() as u64).min(left) as usize;
        if have == 0 {
            return Ok(false);
        }
        // Unmask what is new (each byte once, even when inflated in several steps).
        for (i, b) in self.input[clear..have].iter_mut().enumerate() {
            *b ^= mask[(phase + clear + i) % 4];
        }
        clear = have;
        let (used, made) = self.inflate_into_output(have, false)?;
        if used == 0 && made == 0 {
            return Err(BadData); // input the inflater will not take
        }
        self.input.drain(..used);
        self.frame = Frame::Inflate {
            left: left - used as u64,
            mask,
            phase: (phase + used) % 4,
            clear: clear - used,
            fin,
        };
        Ok(true)
    }

    /// Inflates the tail that ends the message, then ends its fragments.
    fn finish(&mut self, fed: usize) -> Result<bool, InflateError> {
        let input = std::mem::replace(&mut self.input, TAIL[fed..].to_vec());
        let result = self.inflate_into_output(TAIL.len() - fed, true);
        self.input = input;
        let (used, made) = result?;
        if used == 0 && made == 0 {
            return Err(BadData);
        }
        let fed = fed + used;
        if fed == TAIL.len() && made < CHUNK {
            // All inflated: the message's last fragment.
            push_frame(&mut self.output, true, CONTINUATION, &[]);
            if let Some(mut inflater) = self.inflater.take() {
                inflater.reset(false);
                SPARE.set(Some(inflater));
            }
            self.frame = Frame::Header;
        } else {
            self.frame = Frame::Finish { fed };
        }
        Ok(true)
    }

    /// Inflates up to `n` input bytes into at most [`CHUNK`] output bytes, framed as a
    /// fragment; what was used and made.
    fn inflate_into_output(
        &mut self,
        n: usize,
        flush: bool,
    ) -> Result<(usize, usize), InflateError> {
        let inflater = self
            .inflater
            .as_mut()
            .expect("a compressed message is in progress");
        SCRATCH.with_borrow_mut(|scratch| {
            scratch.clear();
            let mut used = 0;
            while used < n && scratch.len() < CHUNK {
                let (in_before, out_before) = (inflater.total_in(), inflater.total_out());
                let mode = if flush {
                    FlushDecompress::Sync
                } else {
                    FlushDecompress::None
                };
                let status = inflater
                    .decompress_vec(&self.input[used..n], scratch, mode)
                    .map_err(|_| BadData)?;
                used += (inflater.total_in() - in_before) as usize;
                let progressed =
                    inflater.total_in() > in_before || inflater.total_out() > out_before;
                if status == Status::StreamEnd {
                    // A final DEFLATE block: whatever follows starts afresh (no context).
                    inflater.reset(false);
                } else if !progressed {
                    break;
                }
            }
            if !scratch.is_empty() {
                push_frame(&mut self.output, false, CONTINUATION, scratch);
            }
            Ok((used, scratch.len()))
        })
    }
}

/// A frame's payload length, header length and masking key, once its header is all in.
fn parse_header(bytes: &[u8]) -> Option<(u64, usize, Option<[u8; 4]>)> {
    let b1 = *bytes.get(1)?;
    let (len, mut at) = match b1 & 0x7f {
        126 => (
            u64::from(u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?)),
            4,
        ),
        127 => (u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?), 10),
        n => (u64::from(n), 2),
    };
    let mask = if b1 & 0x80 != 0 {
        let key: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        Some(key)
    } else {
        None
    };
    Some((len, at, mask))
}

/// Appends a frame with a zero masking key (the payload is unchanged by it).
fn push_frame(out: &mut Vec<u8>, fin: bool, opcode: u8, payload: &[u8]) {
    out.push(if fin { 0x80 } else { 0 } | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= usize::from(u16::MAX) {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests;
