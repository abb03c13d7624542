//! What the runtimes' generic drivers need of a protocol's runtime side: the [`Agent`]
//! answering one machine's events, the [`Flow`] it asks of the driver, and the
//! [`Backlog`] of output waiting to be written.
//!
//! Both runtimes run every protocol through one driver (`driver::drive` in each); a new
//! protocol is a core machine implementing `postrider_core::machine::Machine`, an agent
//! implementing [`Agent`] for it, and a line in each runtime's listener dispatch.

use std::io;
use std::net::SocketAddr;

use postrider_core::machine::{Machine, PeerInfo, TlsInfo};

use crate::compress::{Deflater, Inflater};
use crate::listener::ListenerKind;

/// How many bytes of output a driver lets pile up before it stops handing events to the
/// agent (so a large FETCH or RETR is produced as fast as the client reads it, never
/// whole into memory). Reading goes on meanwhile, up to the machine's own input cap.
pub const OUTPUT_CAP: usize = 256 * 1024;

/// What the driver must do after an event was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep going.
    Continue,
    /// Write all output, then run the TLS handshake and call `tls_established`.
    StartTls,
    /// Write all output, then deflate both directions ([`crate::compress`]) and call
    /// `compression_started`.
    StartCompression,
    /// Write all output, then close the connection.
    Close,
}

/// The runtime side of one session: answers the events of its machine (logins, mail
/// store, queue), calling the machine's answer methods with the events' tokens.
pub trait Agent: Send + 'static {
    /// The core machine this agent answers.
    type Machine: Machine + Send + 'static;

    /// Handles one event from the machine. May block on disk or CPU (password hashing).
    fn handle(&mut self, m: &mut Self::Machine, ev: <Self::Machine as Machine>::Event) -> Flow;

    /// How long handling `ev` may take and what it may wait on, so an async runtime knows
    /// whether to run it on its executor or on the blocking pool.
    fn cost(&self, _ev: &<Self::Machine as Machine>::Event) -> Cost {
        Cost::Blocking
    }
}

/// What handling one event may cost the thread that runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cost {
    /// Quick and never touches the disk (an SMTP command answered from memory).
    Light,
    /// Short and bounded: may read a bounded amount of local files (a batch of an IMAP
    /// FETCH, mostly from the page cache) and wait a little for another session's lock,
    /// but never flushes, hashes a password or goes to the network. An async runtime runs
    /// it on its executor thread, where a handoff to the blocking pool and back would cost
    /// more than the work.
    Brief,
    /// May wait: an fsync, a password hash, a database round trip.
    Blocking,
}

/// Output produced by the machine and not yet written (deflated once the session asked
/// for compression).
#[derive(Debug, Default)]
pub struct Backlog {
    bytes: Vec<u8>,
    start: usize,
    deflate: Option<Deflater>,
}

impl Backlog {
    /// Moves everything the machine has to send into the backlog. A deflate error (which
    /// the in-memory compressor does not have) ends the session's output.
    pub fn take_from<M: Machine>(&mut self, m: &mut M) {
        let Some(deflate) = self.deflate.as_mut() else {
            while let Some(out) = m.poll_transmit() {
                if self.bytes.len() == self.start {
                    self.bytes = out;
                    self.start = 0;
                } else {
                    self.bytes.extend_from_slice(&out);
                }
            }
            return;
        };
        let mut plain = Vec::new();
        while let Some(out) = m.poll_transmit() {
            plain.extend_from_slice(&out);
        }
        if !plain.is_empty() {
            if let Err(e) = deflate.compress(&plain, &mut self.bytes) {
                tracing::warn!("cannot deflate output: {e}");
            }
        }
    }

    /// Deflates everything taken from the machine from now on (what waits is written
    /// first by the driver, uncompressed).
    pub fn start_deflate(&mut self) {
        self.deflate = Some(Deflater::default());
    }

    /// The bytes still to write.
    pub fn pending(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    /// Records that `n` bytes of [`Backlog::pending`] were written.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.bytes.len());
        if self.start == self.bytes.len() {
            self.bytes.clear();
            self.start = 0;
        } else if self.start > OUTPUT_CAP {
            self.bytes.drain(..self.start);
            self.start = 0;
        }
    }

    /// Bytes waiting.
    pub fn len(&self) -> usize {
        self.bytes.len() - self.start
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the agent may be handed more events (the backlog is under the cap).
    pub fn has_room(&self) -> bool {
        self.len() < OUTPUT_CAP
    }
}

/// Hands queued events to the agent while the backlog has room, collecting what the
/// machine sends. Stops early at the first flow other than `Continue`, or before an event
/// `stop_before` rejects (an async runtime stops at the first event that is not light).
pub fn handle_events<A: Agent>(
    agent: &mut A,
    m: &mut A::Machine,
    out: &mut Backlog,
    stop_before: impl Fn(&A, &<A::Machine as Machine>::Event) -> bool,
) -> Flow {
    out.take_from(m);
    while out.has_room() {
        match m.peek_event() {
            Some(ev) if !stop_before(agent, ev) => {}
            _ => break,
        }
        let Some(ev) = m.poll_event() else { break };
        let flow = agent.handle(m, ev);
        out.take_from(m);
        if flow != Flow::Continue {
            return flow;
        }
    }
    Flow::Continue
}

/// Hands the machine what the client sent (`raw`, as read), inflated first when the
/// session is compressed: at most [`crate::compress::INFLATE_CHUNK`] octets now, the rest
/// when [`more_input`] is called.
pub fn give_input<M: Machine>(
    m: &mut M,
    inflate: &mut Option<Inflater>,
    now: std::time::Instant,
    raw: &[u8],
) -> io::Result<()> {
    match inflate {
        None => m.handle_input(now, raw),
        Some(i) => {
            i.feed(raw);
            let plain = i.inflate_next()?;
            if !plain.is_empty() {
                m.handle_input(now, &plain);
            }
        }
    }
    Ok(())
}

/// Whether inflated input is waiting for the machine (then [`more_input`] hands it
/// over without reading the socket).
pub fn has_more_input(inflate: &Option<Inflater>) -> bool {
    inflate.as_ref().is_some_and(|i| i.has_pending())
}

/// Hands the machine the next chunk of inflated input already received.
pub fn more_input<M: Machine>(
    m: &mut M,
    inflate: &mut Option<Inflater>,
    now: std::time::Instant,
) -> io::Result<()> {
    give_input(m, inflate, now, &[])
}

/// The two ends of an accepted connection.
pub fn peer_info(
    remote: io::Result<SocketAddr>,
    local: io::Result<SocketAddr>,
) -> io::Result<PeerInfo> {
    Ok(PeerInfo {
        remote: remote?,
        local: local?,
    })
}

/// Logs a finished handshake (`what`: implicit "TLS" or "STARTTLS").
pub fn log_tls(kind: ListenerKind, peer: PeerInfo, what: &str, info: &TlsInfo) {
    tracing::info!(
        "{}: {what} with [{}]: {} {}",
        kind.protocol(),
        peer.remote.ip(),
        info.version,
        info.cipher
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backlog_keeps_order_and_compacts() {
        let mut b = Backlog {
            bytes: b"hello world".to_vec(),
            start: 0,
            deflate: None,
        };
        b.consume(3);
        assert_eq!(b.pending(), b"lo world");
        b.consume(100);
        assert!(b.is_empty() && b.has_room());
        b.bytes = vec![b'x'; OUTPUT_CAP + 10];
        assert!(!b.has_room());
        b.consume(OUTPUT_CAP + 1);
        assert_eq!(b.pending(), &[b'x'; 9][..]);
        assert_eq!(b.start, 0, "compacted once most of it was written");
    }
}
