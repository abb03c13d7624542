//! The runtime side of one SMTP session, shared by both runtimes: relay policy, recipient
//! checks, and spooling into the durable queue. Everything here may block on disk, so the
//! smol runtime calls it through `blocking::unblock`.

use std::sync::Arc;

use postrider_core::smtp::{
    DataTicket, EnhancedCode, ForwardPath, PeerInfo, Reply, ReversePath, SmtpEvent, SmtpServer,
    SmtpServerConfig, Verdict,
};

use crate::context::{wall_now, Context};
use crate::queue::{unix_now, Envelope, Recipient, Spool};

/// Which listener a connection came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    /// Port 25 role: receives mail for local domains; relays only for trusted networks.
    Smtp,
    /// Port 587 role: STARTTLS, then AUTH before MAIL.
    Submission,
    /// Port 465 role: implicit TLS, then AUTH before MAIL.
    Submissions,
}

impl ListenerKind {
    /// A short name for logs.
    pub fn name(self) -> &'static str {
        match self {
            ListenerKind::Smtp => "smtp",
            ListenerKind::Submission => "submission",
            ListenerKind::Submissions => "submissions",
        }
    }
}

/// What the driver must do after an event was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep going.
    Continue,
    /// Flush, then run the TLS handshake and call `tls_established`.
    StartTls,
    /// Flush, then close the connection.
    Close,
}

/// The core configuration for a session on a listener of `kind`.
pub fn server_config(ctx: &Context, kind: ListenerKind) -> SmtpServerConfig {
    let s = &ctx.settings;
    let mut c = SmtpServerConfig::default();
    c.hostname = s.config.hostname.clone();
    c.max_message_size = s.config.smtp.max_message_size;
    c.max_recipients = s.config.smtp.max_recipients;
    c.max_errors = s.config.smtp.max_errors;
    c.command_timeout = s.command_timeout;
    c.data_timeout = s.data_timeout;
    c.starttls = ctx.tls.is_some() && kind != ListenerKind::Submissions;
    c.implicit_tls = kind == ListenerKind::Submissions;
    c.require_auth = kind != ListenerKind::Smtp;
    c
}

/// Per-connection state of the runtime side.
#[derive(Debug)]
pub struct SmtpSession {
    ctx: Arc<Context>,
    peer: PeerInfo,
    helo: String,
    sender: String,
    spool: Option<Spool>,
    spool_error: bool,
    trusted: bool,
}

fn reply(code: u16, e: (u8, u16, u16), text: impl Into<String>) -> Reply {
    Reply::new(code, EnhancedCode::new(e.0, e.1, e.2), text)
}

impl SmtpSession {
    /// Runtime state for a new connection from `peer`.
    pub fn new(ctx: Arc<Context>, peer: PeerInfo) -> Self {
        tracing::info!("connect from [{}]:{}", peer.remote.ip(), peer.remote.port());
        Self {
            ctx,
            peer,
            helo: String::new(),
            sender: String::new(),
            spool: None,
            spool_error: false,
            trusted: false,
        }
    }

    /// Runtime state for a local `sendmail -bs` session: the invoking user is trusted to
    /// relay, as with Postfix.
    pub fn new_local(ctx: Arc<Context>, peer: PeerInfo) -> Self {
        let mut s = Self::new(ctx, peer);
        s.trusted = true;
        s
    }

    /// Handles every queued event of `s` in order; returns the strongest flow asked for
    /// (Close or StartTls over Continue) and whether there was any event at all.
    pub fn handle_all(&mut self, s: &mut SmtpServer) -> (Flow, bool) {
        let mut flow = Flow::Continue;
        let mut any = false;
        while let Some(ev) = s.poll_event() {
            any = true;
            match self.handle(s, ev) {
                Flow::Continue => {}
                other => flow = other,
            }
        }
        (flow, any)
    }

    /// Handles one event from the machine, answering any token it carries.
    pub fn handle(&mut self, s: &mut SmtpServer, ev: SmtpEvent) -> Flow {
        match ev {
            SmtpEvent::Helo { token, name, .. } => {
                self.helo = name;
                s.respond(token, Verdict::Accept);
            }
            SmtpEvent::MailFrom { token, from, .. } => {
                self.sender = from.to_string();
                s.respond(token, Verdict::Accept);
            }
            SmtpEvent::RcptTo { token, to, .. } => {
                let verdict = self.check_recipient(&to);
                if let Verdict::Reject(r) = &verdict {
                    tracing::info!(
                        "NOQUEUE: reject: RCPT from [{}]: {}; from=<{}> to=<{}>",
                        self.peer.remote.ip(),
                        r.summary(),
                        self.sender,
                        to
                    );
                }
                s.respond(token, verdict);
            }
            SmtpEvent::DataStart { token } => {
                self.spool = None;
                self.spool_error = false;
                match self.ctx.queue.create_spool() {
                    Ok(spool) => {
                        let queue_id = spool.id().to_string();
                        tracing::info!(
                            "{}: client=[{}], helo=<{}>",
                            queue_id,
                            self.peer.remote.ip(),
                            self.helo
                        );
                        self.spool = Some(spool);
                        s.data_start(
                            token,
                            Ok(DataTicket {
                                queue_id,
                                now: wall_now(),
                            }),
                        );
                    }
                    Err(e) => {
                        tracing::error!("cannot create queue file: {e}");
                        s.data_start(
                            token,
                            Err(reply(451, (4, 3, 0), "Error: queue file write error")),
                        );
                    }
                }
            }
            SmtpEvent::BodyChunk(bytes) => {
                if let Some(spool) = self.spool.as_mut() {
                    if !self.spool_error {
                        if let Err(e) = spool.write(&bytes) {
                            tracing::error!("{}: queue file write error: {e}", spool.id());
                            self.spool_error = true;
                        }
                    }
                }
            }
            SmtpEvent::DataAborted | SmtpEvent::Reset => {
                if let Some(spool) = self.spool.take() {
                    tracing::info!("{}: discarded (data not accepted)", spool.id());
                }
            }
            SmtpEvent::MessageComplete {
                token,
                envelope,
                size,
            } => {
                let result = self.commit(envelope, size);
                s.message_queued(token, result);
            }
            SmtpEvent::StartTls => return Flow::StartTls,
            SmtpEvent::Closed { reason } => {
                tracing::info!("disconnect from [{}] ({:?})", self.peer.remote.ip(), reason);
                return Flow::Close;
            }
            other => tracing::debug!("unhandled event {other:?}"),
        }
        Flow::Continue
    }

    fn commit(&mut self, envelope: postrider_core::smtp::Envelope, size: u64) -> Result<(), Reply> {
        let failure = || reply(451, (4, 3, 0), "Error: queue file write error");
        let Some(spool) = self.spool.take() else {
            return Err(failure());
        };
        if self.spool_error {
            return Err(failure());
        }
        let id = spool.id().to_string();
        let sender = match &envelope.from {
            ReversePath::Null => String::new(),
            ReversePath::Mailbox(m) => m.to_string(),
        };
        let env = Envelope {
            id: id.clone(),
            arrival: unix_now(),
            sender: sender.clone(),
            client: self.peer.remote.ip().to_string(),
            helo: self.helo.clone(),
            size,
            recipients: envelope
                .recipients
                .iter()
                .map(|(r, _)| {
                    Recipient::new(recipient_address(r, self.ctx.settings.primary_domain()))
                })
                .collect(),
        };
        match self.ctx.queue.commit(spool, &env) {
            Ok(()) => {
                tracing::info!(
                    "{}: from=<{}>, size={}, nrcpt={} (queue active)",
                    id,
                    sender,
                    size,
                    env.recipients.len()
                );
                self.ctx.wakeup.notify();
                Ok(())
            }
            Err(e) => {
                tracing::error!("{id}: cannot commit queue file: {e}");
                Err(failure())
            }
        }
    }

    /// RCPT policy: local domains need a known recipient; other domains need a trusted
    /// client (no open relay).
    fn check_recipient(&self, to: &ForwardPath) -> Verdict {
        let m = match to {
            ForwardPath::Postmaster => return Verdict::Accept,
            ForwardPath::Mailbox(m) => m,
        };
        let settings = &self.ctx.settings;
        if settings.is_local_domain(&m.domain) {
            if self.ctx.is_local_recipient(&m.local_part_unquoted()) {
                Verdict::Accept
            } else {
                Verdict::Reject(reply(
                    550,
                    (5, 1, 1),
                    format!(
                        "<{m}>: Recipient address rejected: User unknown in local recipient table"
                    ),
                ))
            }
        } else if self.trusted || settings.is_trusted(self.peer.remote.ip()) {
            Verdict::Accept
        } else {
            Verdict::Reject(reply(554, (5, 7, 1), format!("<{m}>: Relay access denied")))
        }
    }
}

/// Writes every pending transmit of `s` to `out` and flushes (blocking runtimes).
pub fn write_transmits(s: &mut SmtpServer, out: &mut impl std::io::Write) -> std::io::Result<()> {
    while let Some(bytes) = s.poll_transmit() {
        out.write_all(&bytes)?;
    }
    out.flush()
}

/// The queue form of a recipient: `<Postmaster>` becomes `postmaster@` the first local domain.
fn recipient_address(r: &ForwardPath, domain: &str) -> String {
    match r {
        ForwardPath::Postmaster => format!("postmaster@{domain}"),
        ForwardPath::Mailbox(m) => m.to_string(),
    }
}
