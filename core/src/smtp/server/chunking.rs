//! BDAT (RFC 3030 CHUNKING): a message sent in chunks of announced size, not
//! dot-stuffed. The octets of a chunk are passed on as they arrive (never gathered in
//! memory); a chunk that is refused (no recipients yet, too large, mixed with DATA, the
//! spool refused) is still read, and dropped, so the session stays in step. A bare LF
//! becomes CRLF, as the spool keeps CRLF lines, except in a `BODY=BINARYMIME` message
//! (whose octets are kept exactly).

use super::*;

/// The chunk being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Chunk {
    /// Octets still to come.
    left: u64,
    /// Whether they belong to the message (else they are dropped).
    keep: bool,
    /// The message's last chunk.
    last: bool,
}

impl SmtpServer {
    /// `BDAT size [LAST]`.
    pub(super) fn bdat(&mut self, size: u64, last: bool) {
        let refusal = match self.tx.as_ref() {
            None => Some(Reply::new(503, code(5, 5, 1), "Error: need MAIL command")),
            Some(tx) if tx.recipients.is_empty() => Some(self.no_recipients()),
            Some(tx)
                if tx.bdat.unwrap_or(0).saturating_add(size) > self.config.max_message_size =>
            {
                Some(Reply::new(
                    552,
                    code(5, 3, 4),
                    "Error: message size exceeds fixed maximum message size",
                ))
            }
            Some(_) => None,
        };
        if let Some(reply) = refusal {
            if reply.code == 552 {
                // The message is refused whole: what came of it so far is dropped (in
                // LMTP, a last chunk's refusal is one reply per recipient).
                let copies = if last { self.recipient_count() } else { 1 };
                self.drop_transaction();
                self.final_reply(&reply, copies);
            } else {
                self.error(reply);
            }
            return self.read_chunk(size, false, last);
        }
        let started = self.tx.as_ref().is_some_and(|t| t.bdat.is_some());
        if !started {
            let token = self.ask(Pending::DataStart { chunked: true });
            self.wire.events.push_back(SmtpEvent::DataStart { token });
        }
        self.read_chunk(size, true, last);
    }

    /// DATA after BDAT in one transaction is refused (RFC 3030 §3).
    pub(super) fn bdat_started(&self) -> bool {
        self.tx.as_ref().is_some_and(|t| t.bdat.is_some())
    }

    /// Starts reading a chunk of `size` octets.
    fn read_chunk(&mut self, size: u64, keep: bool, last: bool) {
        self.chunk = Some(Chunk {
            left: size,
            keep,
            last,
        });
        self.phase = Phase::Chunk;
        self.deadline = self.now + self.config.data_timeout;
    }

    /// The spool answered the first BDAT: the Received field goes first, then the chunks
    /// (refused: the chunk is read and dropped).
    pub(super) fn chunked_data_start(&mut self, result: Result<DataTicket, Reply>) {
        match result {
            Err(reply) => {
                self.reply(&reply);
                if let Some(c) = self.chunk.as_mut() {
                    c.keep = false;
                }
            }
            Ok(ticket) => {
                let header = self.received_field(&ticket);
                if let Some(tx) = self.tx.as_mut() {
                    tx.queue_id = Some(ticket.queue_id);
                    tx.bdat = Some(0);
                }
                self.wire
                    .events
                    .push_back(SmtpEvent::BodyChunk(Bytes::from(header.into_bytes())));
            }
        }
    }

    /// Reads what has arrived of the current chunk; at its end, the reply (or, for the
    /// last chunk, the message goes to the queue).
    pub(super) fn process_chunk(&mut self) -> bool {
        let Some(mut chunk) = self.chunk else {
            self.phase = Phase::Command;
            return true;
        };
        if chunk.left > 0 {
            if self.wire.input.is_empty() {
                return false;
            }
            let n = (chunk.left.min(self.wire.input.len() as u64)) as usize;
            let octets: Vec<u8> = self.wire.input.drain(..n).collect();
            chunk.left -= n as u64;
            self.chunk = Some(chunk);
            self.deadline = self.now + self.config.data_timeout;
            if chunk.keep {
                self.keep_octets(octets);
            }
            if chunk.left > 0 {
                return false;
            }
        }
        self.chunk = None;
        self.phase = Phase::Command;
        self.touch();
        if !chunk.keep {
            return true;
        }
        let size = self.tx.as_ref().and_then(|t| t.bdat).unwrap_or(0);
        if chunk.last {
            self.complete_message(size);
        } else {
            self.reply(&Reply::new(
                250,
                code(2, 0, 0),
                format!("Ok: {size} octets received"),
            ));
        }
        true
    }

    /// Passes chunk octets on (a bare LF made CRLF) and counts them.
    fn keep_octets(&mut self, octets: Vec<u8>) {
        let Some(tx) = self.tx.as_mut() else {
            return;
        };
        tx.bdat = Some(tx.bdat.unwrap_or(0) + octets.len() as u64);
        if tx.binary() {
            // BINARYMIME: the octets are the message, line ends and all.
            return self
                .wire
                .events
                .push_back(SmtpEvent::BodyChunk(Bytes::from(octets)));
        }
        let mut out = Vec::with_capacity(octets.len() + 16);
        for &b in &octets {
            if b == b'\n' && !tx.last_cr {
                out.push(b'\r');
            }
            tx.last_cr = b == b'\r';
            out.push(b);
        }
        self.wire
            .events
            .push_back(SmtpEvent::BodyChunk(Bytes::from(out)));
    }

    /// Ends the transaction in progress; a message begun with BDAT is discarded.
    pub(super) fn drop_transaction(&mut self) {
        if let Some(tx) = self.tx.take() {
            if tx.bdat.is_some() {
                self.wire.events.push_back(SmtpEvent::DataAborted);
            }
            self.wire.events.push_back(SmtpEvent::Reset);
        }
    }

    /// Whether the spool holds part of a message (DATA or BDAT under way).
    pub(super) fn in_message(&self) -> bool {
        self.phase == Phase::Data || self.bdat_started()
    }
}
