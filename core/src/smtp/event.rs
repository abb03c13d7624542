//! What an [`SmtpServer`](super::server::SmtpServer) asks of its runtime, and how the
//! runtime answers.

use std::time::Duration;

use bytes::Bytes;

use super::types::{ForwardPath, Parameter, Reply, ReversePath};
use crate::imf::datetime::WallClock;
use crate::machine::{CloseReason, Token};
use crate::sasl::{Credentials, Mechanism};

/// The runtime's decision on a HELO/EHLO, MAIL or RCPT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Accept with the standard positive reply.
    Accept,
    /// Refuse with this reply (4xx or 5xx).
    Reject(Reply),
}

/// How VRFY is answered (RFC 5321 §3.5.3, §7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VrfyPolicy {
    /// 252 for every argument: reveals nothing (the default).
    #[default]
    Ambiguous,
    /// Ask the runtime ([`SmtpEvent::Vrfy`]): 252 for deliverable names, its refusal else.
    Verify,
    /// 502 5.5.1: the command is disabled.
    Disabled,
}

/// What the runtime says when the message data is about to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataTicket {
    /// The queue id the message will have; it appears in Received and in the 250 reply.
    pub queue_id: String,
    /// The time of arrival, for the Received field.
    pub now: WallClock,
}

/// The envelope of one complete transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// MAIL FROM.
    pub from: ReversePath,
    /// The parameters given with MAIL FROM.
    pub mail_params: Vec<Parameter>,
    /// The accepted recipients, duplicates removed, with their RCPT parameters.
    pub recipients: Vec<(ForwardPath, Vec<Parameter>)>,
}

/// Things only the runtime can do, drained with `poll_event`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SmtpEvent {
    /// HELO or EHLO: answer with `respond(token, verdict)`.
    Helo {
        /// Answer token.
        token: Token,
        /// The name the client gave.
        name: String,
        /// true for EHLO.
        extended: bool,
    },
    /// MAIL FROM: answer with `respond(token, verdict)`.
    MailFrom {
        /// Answer token.
        token: Token,
        /// The sender.
        from: ReversePath,
        /// Its parameters (already checked: SIZE within limit, BODY known).
        params: Vec<Parameter>,
    },
    /// RCPT TO: answer with `respond(token, verdict)`. Repeated recipients are answered
    /// by the machine itself and not reported again.
    RcptTo {
        /// Answer token.
        token: Token,
        /// The recipient.
        to: ForwardPath,
        /// Its parameters.
        params: Vec<Parameter>,
    },
    /// AUTH finished its SASL exchange: check the credentials and answer with
    /// `auth_result(token, outcome)`.
    Auth {
        /// Answer token.
        token: Token,
        /// The mechanism used.
        mechanism: Mechanism,
        /// What the client sent.
        credentials: Credentials,
    },
    /// VRFY under [`VrfyPolicy::Verify`]: answer with `respond(token, Accept)` (252) or
    /// `respond(token, Reject(reply))`.
    Vrfy {
        /// Answer token.
        token: Token,
        /// The argument as sent (a name, or an address in angle brackets).
        argument: String,
    },
    /// DATA with at least one accepted recipient: open a spool file and answer with
    /// `data_start(token, Ok(ticket))`, or `Err(reply)` to refuse (e.g. 451).
    DataStart {
        /// Answer token.
        token: Token,
    },
    /// Message content, in order: first the Received field this host adds, then the
    /// unstuffed body with CRLF line ends. Append it to the spool file.
    BodyChunk(Bytes),
    /// The data was refused (too large, bare LF/CR, line too long) or the session ended
    /// inside DATA: discard the spool file. The machine has answered the client.
    DataAborted,
    /// The whole message has arrived: make it durable (fsync) and answer with
    /// `message_queued(token, Ok(()))`, or `Err(reply)` (e.g. 451 4.3.0). In an LMTP
    /// session, deliver it and answer with `message_delivered(token, replies)`, one reply
    /// per recipient of the envelope, in order (`message_queued` gives each the same).
    MessageComplete {
        /// Answer token.
        token: Token,
        /// Who it is from and to.
        envelope: Envelope,
        /// Body size in octets (without the added Received field).
        size: u64,
    },
    /// STARTTLS accepted and the 220 written: flush transmits, run the TLS handshake,
    /// then call `tls_established` (or end the connection if it fails).
    StartTls,
    /// The transaction was reset (RSET, EHLO, or after a message).
    Reset,
    /// The session is over: flush transmits, then close the connection.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// Limits and names of an SMTP server session; `Default` gives the contract's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SmtpServerConfig {
    /// This host's name, shown in the banner, EHLO reply and Received.
    pub hostname: String,
    /// Largest accepted message in octets, advertised with SIZE (RFC 1870).
    pub max_message_size: u64,
    /// Most recipients per transaction (RFC 5321 §4.5.3.1.8 requires at least 100).
    pub max_recipients: usize,
    /// Bad commands tolerated before 421 and close.
    pub max_errors: u32,
    /// Longest command line including CRLF (RFC 5321 §4.5.3.1.4: 512).
    pub max_command_line: usize,
    /// Longest text line in DATA including CRLF (RFC 5321 §4.5.3.1.6: 1000).
    pub max_text_line: usize,
    /// Idle time allowed while waiting for a command (RFC 5321 §4.5.3.2.7: 5 minutes).
    pub command_timeout: Duration,
    /// Idle time allowed inside DATA (RFC 5321 §4.5.3.2.5: 3 minutes between blocks).
    pub data_timeout: Duration,
    /// Whether STARTTLS may be offered (a certificate is available and TLS is not active).
    pub starttls: bool,
    /// Whether the session started in TLS (implicit TLS, RFC 8314).
    pub implicit_tls: bool,
    /// Whether MAIL requires a successful AUTH first (submission, RFC 6409): 530 5.7.0.
    pub require_auth: bool,
    /// Whether AUTH (RFC 4954) is offered at all on this listener.
    pub auth: bool,
    /// Whether AUTH is offered without TLS (otherwise 530 5.7.0 until STARTTLS).
    pub allow_plaintext_auth: bool,
    /// Failed AUTH attempts before 421 and close.
    pub max_auth_failures: u32,
    /// The delay before a 535; the n-th failure waits n times this.
    pub auth_failure_delay: Duration,
    /// Messages accepted on one connection before MAIL is answered 421 and the
    /// connection closed.
    pub max_messages: u32,
    /// How VRFY is answered.
    pub vrfy: VrfyPolicy,
    /// Pipelined input kept while a question is pending, before reading stops.
    pub max_pipelined: usize,
    /// Whether the session speaks LMTP (RFC 2033): LHLO instead of EHLO/HELO, and one
    /// reply per accepted recipient after the message.
    pub lmtp: bool,
}

impl Default for SmtpServerConfig {
    fn default() -> Self {
        Self {
            hostname: "localhost".into(),
            max_message_size: 10 * 1024 * 1024,
            max_recipients: 100,
            max_errors: 10,
            max_command_line: 512,
            max_text_line: 1000,
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(180),
            starttls: false,
            implicit_tls: false,
            require_auth: false,
            auth: false,
            allow_plaintext_auth: false,
            max_auth_failures: 3,
            auth_failure_delay: Duration::from_secs(1),
            max_messages: 1000,
            vrfy: VrfyPolicy::Ambiguous,
            max_pipelined: crate::machine::DEFAULT_MAX_PIPELINED,
            lmtp: false,
        }
    }
}
