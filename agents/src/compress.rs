//! DEFLATE for IMAP COMPRESS=DEFLATE (RFC 4978): raw DEFLATE (RFC 1951, no zlib header)
//! in both directions, each batch of output ended with a sync flush so the client can
//! read it at once. The drivers of both runtimes use it the same way: the [`Backlog`]
//! deflates what the machine sends, and an [`Inflater`] hands the machine what the
//! client sent, a bounded amount at a time (a small input can inflate a thousandfold).
//!
//! [`Backlog`]: crate::agent::Backlog

use std::io;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Most octets of inflated input handed to the machine at once.
pub const INFLATE_CHUNK: usize = 64 * 1024;

/// The sending side: compresses output, flushing at the end of each batch.
#[derive(Debug)]
pub struct Deflater {
    c: Compress,
}

impl Default for Deflater {
    fn default() -> Self {
        Self {
            c: Compress::new(Compression::new(6), false),
        }
    }
}

impl Deflater {
    /// Appends `input` compressed, then a sync flush, to `out`.
    pub fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let mut taken = 0;
        loop {
            out.reserve(input.len() - taken + 64);
            let before = self.c.total_in();
            self.c
                .compress_vec(&input[taken..], out, FlushCompress::Sync)
                .map_err(io::Error::other)?;
            taken += (self.c.total_in() - before) as usize;
            // The flush is complete once all is taken and the output did not fill up.
            if taken == input.len() && out.len() < out.capacity() {
                return Ok(());
            }
        }
    }
}

/// The receiving side: inflates what the client sent, a bounded amount at a time.
#[derive(Debug)]
pub struct Inflater {
    d: Decompress,
    /// Compressed octets not inflated yet.
    pending: Vec<u8>,
    /// The last call filled its output: the inflater may hold more.
    more: bool,
    /// The pending octets gave nothing: wait for more input.
    starved: bool,
}

impl Default for Inflater {
    fn default() -> Self {
        Self {
            d: Decompress::new(false),
            pending: Vec::new(),
            more: false,
            starved: false,
        }
    }
}

impl Inflater {
    /// Adds octets read from the client.
    pub fn feed(&mut self, raw: &[u8]) {
        self.pending.extend_from_slice(raw);
        self.starved = false;
    }

    /// Whether [`Inflater::inflate_next`] may give more without new input.
    pub fn has_pending(&self) -> bool {
        self.more || (!self.pending.is_empty() && !self.starved)
    }

    /// Up to [`INFLATE_CHUNK`] inflated octets (empty when more input is needed). An
    /// error means the client's stream is not valid DEFLATE.
    pub fn inflate_next(&mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(INFLATE_CHUNK);
        let before = self.d.total_in();
        let status = self
            .d
            .decompress_vec(&self.pending, &mut out, FlushDecompress::None)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let used = (self.d.total_in() - before) as usize;
        self.pending.drain(..used);
        self.more = out.len() == out.capacity();
        self.starved = out.is_empty() && used == 0;
        if status == Status::StreamEnd && !self.pending.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "data after the end of the DEFLATE stream",
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_one_side_deflates_the_other_inflates_in_any_split() {
        let mut d = Deflater::default();
        let mut wire = Vec::new();
        let lines: Vec<Vec<u8>> = (0..200)
            .map(|i| format!("* {i} FETCH (FLAGS (\\Seen))\r\n").into_bytes())
            .collect();
        for l in &lines {
            let before = wire.len();
            d.compress(l, &mut wire).unwrap();
            // Each batch ends in a sync flush: 00 00 FF FF.
            assert!(wire.len() > before && wire.ends_with(&[0, 0, 0xFF, 0xFF]));
        }
        let expected: Vec<u8> = lines.concat();
        for split in [1, 7, 4096] {
            let mut i = Inflater::default();
            let mut got = Vec::new();
            for piece in wire.chunks(split) {
                i.feed(piece);
                while i.has_pending() {
                    got.extend(i.inflate_next().unwrap());
                }
            }
            assert_eq!(got, expected, "split {split}");
        }
    }

    #[test]
    fn a_bomb_is_handed_over_a_chunk_at_a_time_and_garbage_is_an_error() {
        let mut d = Deflater::default();
        let mut wire = Vec::new();
        d.compress(&vec![b'a'; 10 * INFLATE_CHUNK], &mut wire)
            .unwrap();
        assert!(wire.len() < INFLATE_CHUNK / 10);
        let mut i = Inflater::default();
        i.feed(&wire);
        let mut total = 0;
        while i.has_pending() {
            let chunk = i.inflate_next().unwrap();
            assert!(chunk.len() <= INFLATE_CHUNK);
            total += chunk.len();
        }
        assert_eq!(total, 10 * INFLATE_CHUNK);
        let mut bad = Inflater::default();
        bad.feed(&[0xFF; 64]);
        assert!(bad.inflate_next().is_err());
    }
}
