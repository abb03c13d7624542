//! Reading a request body as it arrives: `Content-Length` bytes, or the chunked transfer
//! coding (RFC 9112 §7.1) decoded, both within a size limit.
//!
//! ```text
//! chunked-body   = *chunk last-chunk trailer-section CRLF
//! chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//! last-chunk     = 1*("0") [ chunk-ext ] CRLF
//! ```

use super::head::Framing;

/// The longest chunk-size line (size and extensions) accepted.
const MAX_SIZE_LINE: usize = 1024;

/// Why a body could not be read; the connection is closed after the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Broken chunked coding (400).
    Malformed,
    /// Longer than allowed (413).
    TooLarge,
}

impl BodyError {
    /// The status code of the answer.
    pub fn status(self) -> u16 {
        match self {
            BodyError::Malformed => 400,
            BodyError::TooLarge => 413,
        }
    }
}

/// Where a chunked body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Before a chunk-size line.
    Size,
    /// Inside chunk data: this many bytes to go.
    Data(u64),
    /// After chunk data: its CRLF.
    DataEnd,
    /// After the last chunk: trailer fields (ignored) up to an empty line; bytes seen.
    Trailer(usize),
}

/// Reads one request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyReader {
    state: Reading,
    max: u64,
    max_trailer: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    Length(u64),
    Chunked(Chunk),
    Done,
}

impl BodyReader {
    /// A reader for a body framed as `framing`, at most `max` bytes (decoded), with
    /// trailer fields of at most `max_trailer` bytes. A declared length over `max` is
    /// refused at once, before any of it is read.
    pub fn new(framing: Framing, max: u64, max_trailer: usize) -> Result<BodyReader, BodyError> {
        let state = match framing {
            Framing::None => Reading::Done,
            Framing::Length(n) if n > max => return Err(BodyError::TooLarge),
            Framing::Length(n) => Reading::Length(n),
            Framing::Chunked => Reading::Chunked(Chunk::Size),
        };
        Ok(BodyReader {
            state,
            max,
            max_trailer,
        })
    }

    /// Whether the whole body has been read.
    pub fn is_done(&self) -> bool {
        self.state == Reading::Done
    }

    /// Takes what it can of `input` into `body`; returns how many bytes of `input`
    /// belong to the body (the rest is the next request).
    pub fn feed(&mut self, input: &[u8], body: &mut Vec<u8>) -> Result<usize, BodyError> {
        let mut used = 0;
        while used < input.len() && !self.is_done() {
            let rest = &input[used..];
            let step = match self.state {
                Reading::Length(left) => {
                    let n = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    body.extend_from_slice(&rest[..n]);
                    self.state = if left == n as u64 {
                        Reading::Done
                    } else {
                        Reading::Length(left - n as u64)
                    };
                    n
                }
                Reading::Chunked(chunk) => self.chunked(chunk, rest, body)?,
                Reading::Done => 0,
            };
            if step == 0 {
                break;
            }
            used += step;
        }
        Ok(used)
    }

    /// One step of chunked decoding from `rest`: how many bytes it took (0: more input
    /// needed).
    fn chunked(
        &mut self,
        chunk: Chunk,
        rest: &[u8],
        body: &mut Vec<u8>,
    ) -> Result<usize, BodyError> {
        match chunk {
            Chunk::Size => {
                let Some(lf) = memchr::memchr(b'\n', &rest[..rest.len().min(MAX_SIZE_LINE)]) else {
                    return if rest.len() >= MAX_SIZE_LINE {
                        Err(BodyError::Malformed)
                    } else {
                        Ok(0)
                    };
                };
                let size = match httparse::parse_chunk_size(&rest[..=lf]) {
                    Ok(httparse::Status::Complete((_, size))) => size,
                    _ => return Err(BodyError::Malformed),
                };
                if (body.len() as u64).saturating_add(size) > self.max {
                    return Err(BodyError::TooLarge);
                }
                self.state = Reading::Chunked(if size == 0 {
                    Chunk::Trailer(0)
                } else {
                    Chunk::Data(size)
                });
                Ok(lf + 1)
            }
            Chunk::Data(left) => {
                let n = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                body.extend_from_slice(&rest[..n]);
                self.state = Reading::Chunked(if left == n as u64 {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(left - n as u64)
                });
                Ok(n)
            }
            Chunk::DataEnd => match rest {
                [b'\r', b'\n', ..] => {
                    self.state = Reading::Chunked(Chunk::Size);
                    Ok(2)
                }
                [b'\n', ..] => {
                    self.state = Reading::Chunked(Chunk::Size);
                    Ok(1)
                }
                [b'\r'] => Ok(0),
                _ => Err(BodyError::Malformed),
            },
            Chunk::Trailer(seen) => {
                let Some(lf) = memchr::memchr(b'\n', rest) else {
                    return if seen + rest.len() > self.max_trailer {
                        Err(BodyError::Malformed)
                    } else {
                        Ok(0)
                    };
                };
                let line = &rest[..lf];
                let seen = seen + lf + 1;
                if seen > self.max_trailer {
                    return Err(BodyError::Malformed);
                }
                self.state = if line.is_empty() || line == b"\r" {
                    Reading::Done
                } else {
                    Reading::Chunked(Chunk::Trailer(seen))
                };
                Ok(lf + 1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(
        framing: Framing,
        max: u64,
        input: &[u8],
    ) -> Result<(Vec<u8>, usize, bool), BodyError> {
        let mut r = BodyReader::new(framing, max, 1024)?;
        let mut body = Vec::new();
        let used = r.feed(input, &mut body)?;
        Ok((body, used, r.is_done()))
    }

    #[test]
    fn lengths_take_exactly_their_bytes() {
        assert_eq!(
            read_all(Framing::Length(3), 10, b"abcGET"),
            Ok((b"abc".to_vec(), 3, true))
        );
        assert_eq!(
            read_all(Framing::Length(5), 10, b"ab"),
            Ok((b"ab".to_vec(), 2, false))
        );
        assert_eq!(
            read_all(Framing::Length(11), 10, b""),
            Err(BodyError::TooLarge)
        );
        assert_eq!(
            read_all(Framing::None, 10, b"GET"),
            Ok((Vec::new(), 0, true))
        );
    }

    #[test]
    fn chunked_bodies_are_decoded_with_extensions_and_trailers() {
        let input =
            b"4;name=v\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-T: 1\r\n\r\nGET";
        let (body, used, done) = read_all(Framing::Chunked, 100, input).expect("valid");
        assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.");
        assert_eq!(&input[used..], b"GET");
        assert!(done);
    }

    #[test]
    fn broken_or_oversized_chunks_are_refused() {
        for input in [
            &b"zz\r\nab\r\n0\r\n\r\n"[..],
            b"2\r\nabX\r\n0\r\n\r\n",
            b"-1\r\n",
            b"fffffffffffffffffffff\r\n",
        ] {
            assert_eq!(
                read_all(Framing::Chunked, 100, input),
                Err(BodyError::Malformed),
                "{input:?}"
            );
        }
        assert_eq!(
            read_all(Framing::Chunked, 5, b"4\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n"),
            Err(BodyError::TooLarge)
        );
        let long_size = [b'1'; MAX_SIZE_LINE + 1];
        assert_eq!(
            read_all(Framing::Chunked, 100, &long_size),
            Err(BodyError::Malformed)
        );
    }

    #[test]
    fn bodies_read_the_same_in_any_pieces() {
        let input = b"3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: x\r\n\r\nrest";
        let whole = read_all(Framing::Chunked, 100, input).expect("valid");
        for split in 0..input.len() {
            let mut r = BodyReader::new(Framing::Chunked, 100, 1024).expect("reader");
            let mut body = Vec::new();
            let mut buffered = Vec::new();
            let mut used_total = 0;
            for piece in [&input[..split], &input[split..]] {
                buffered.extend_from_slice(piece);
                let used = r.feed(&buffered, &mut body).expect("valid");
                buffered.drain(..used);
                used_total += used;
            }
            assert_eq!((body, used_total, r.is_done()), whole, "split at {split}");
        }
    }
}
