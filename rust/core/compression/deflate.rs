//! Compressing one outgoing message (RFC 7692 section 7.2.1): raw DEFLATE ending in a
//! sync flush, whose last four octets (`00 00 ff ff`) are left out. With no context
//! takeover each message is compressed on its own, so one compressor per thread and window
//! size serves every connection, and a message's compressed bytes are the same for every
//! recipient that agreed on that window ([`Deflated`] shares them).

use std::cell::{OnceCell, RefCell};

use bytes::Bytes;
use flate2::{Compress, Compression, FlushCompress, Status};

/// DEFLATE level, 1 (fastest) to 9 (smallest): 6, zlib's default, as browsers, Node `ws`
/// and Python `websockets` use. For a 1.5 KB world state in JSON it gives 3.2x in 22 µs;
/// level 1 (zlib-rs' quick strategy) only 2.3x in 7 µs (docs/src/compression.md).
const LEVEL: u32 = 6;
/// Window sizes zlib can compress with (8 is not one: RFC 7692 lets such messages go
/// uncompressed, section 7.2.1 "MAY").
const WINDOWS: std::ops::RangeInclusive<u8> = 9..=15;
/// The octets a sync flush ends with, left out on the wire.
const TAIL: [u8; 4] = [0, 0, 0xff, 0xff];

thread_local! {
    /// One compressor per window size on this thread, made when first used.
    static COMPRESSORS: RefCell<[Option<Compress>; 7]> = const { RefCell::new([const { None }; 7]) };
}

/// `data` compressed for a connection whose compressor may use `window` bits; `None` when
/// it must go uncompressed (an empty message, or a window zlib cannot use).
pub(crate) fn deflate(data: &[u8], window: u8) -> Option<Bytes> {
    if data.is_empty() || !WINDOWS.contains(&window) {
        return None;
    }
    COMPRESSORS.with_borrow_mut(|all| {
        let slot = &mut all[usize::from(window - 9)];
        let compress = slot.get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::new(LEVEL), false, window)
        });
        compress.reset();
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        loop {
            let consumed = compress.total_in() as usize;
            if out.len() == out.capacity() {
                out.reserve(out.capacity());
            }
            match compress.compress_vec(&data[consumed..], &mut out, FlushCompress::Sync) {
                Ok(Status::Ok | Status::BufError) => {}
                Ok(Status::StreamEnd) | Err(_) => return None,
            }
            // Done when all input is in and the flush did not fill the buffer.
            if compress.total_in() as usize == data.len() && out.len() < out.capacity() {
                break;
            }
        }
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
        Some(Bytes::from(out))
    })
}

/// One message's compressed forms, made on first need and shared by every recipient that
/// agreed on the same window (a broadcast is compressed once, not once per peer).
#[derive(Default)]
pub(crate) struct Deflated {
    forms: [OnceCell<Option<Bytes>>; 7],
}

impl Deflated {
    /// `data` compressed for `window` bits, made once.
    pub fn get(&self, data: &[u8], window: u8) -> Option<Bytes> {
        if !WINDOWS.contains(&window) {
            return None;
        }
        self.forms[usize::from(window - 9)]
            .get_or_init(|| deflate(data, window))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Decompress, FlushDecompress};

    /// What a client does (RFC 7692 7.2.2): the tail appended, then inflated.
    pub(crate) fn inflate(data: &[u8]) -> Vec<u8> {
        let mut inflater = Decompress::new(false);
        let mut input = data.to_vec();
        input.extend_from_slice(&TAIL);
        let mut out = Vec::with_capacity(1 << 20);
        inflater
            .decompress_vec(&input, &mut out, FlushDecompress::Sync)
            .unwrap();
        out
    }

    #[test]
    fn messages_round_trip_and_json_shrinks() {
        let json: String = (0..40)
            .map(|i| {
                format!(
                    "{{\"id\":{i},\"x\":{}.5,\"y\":{},\"hp\":100}},",
                    i * 7,
                    i * 3
                )
            })
            .collect();
        let packed = deflate(json.as_bytes(), 15).unwrap();
        assert!(
            packed.len() * 3 < json.len(),
            "{} -> {}",
            json.len(),
            packed.len()
        );
        assert_eq!(inflate(&packed), json.as_bytes());
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(inflate(&deflate(&big, 9).unwrap()), big);
        // RFC 7692 7.2.3.1's example: "Hello" is f2 48 cd c9 c9 07 00.
        assert_eq!(
            &deflate(b"Hello", 15).unwrap()[..],
            [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
        );
    }

    #[test]
    fn nothing_for_empty_messages_or_a_window_of_8() {
        assert_eq!(deflate(b"", 15), None);
        assert_eq!(deflate(b"abc", 8), None);
        let shared = Deflated::default();
        let first = shared.get(b"abcabcabc", 15).unwrap();
        assert_eq!(
            first.as_ptr(),
            shared.get(b"abcabcabc", 15).unwrap().as_ptr()
        );
    }
}
