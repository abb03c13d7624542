//! The runtime side of one SMTP session, shared by both runtimes: logins, relay policy,
//! sender and recipient checks, submission fix-ups and spooling into the durable queue.
//! Everything here may block on disk (and password hashing takes CPU time), so the smol
//! runtime calls it through `blocking::unblock`.

use std::sync::Arc;

use postrider_core::dmarc::Policy;
use postrider_core::machine::PeerInfo;
use postrider_core::smtp::dsn::{mail_dsn, rcpt_dsn};
use postrider_core::smtp::{
    DataTicket, EnhancedCode, ForwardPath, Reply, ReversePath, SmtpEvent, SmtpServer,
    SmtpServerConfig, Verdict, VrfyPolicy,
};
use postrider_core::submission::{fixup, FixupParams};

use crate::agent::{Agent, Cost, Flow};
use crate::config::{DmarcMode, VrfyMode};
use crate::context::{wall_now, Context};
use crate::listener::ListenerKind;
use postrider_store::queue::{unix_now, Envelope, Recipient};
use postrider_store::queue_store::MessageSpool;

/// A value for an Authentication-Results property (RFC 8601 §2.2): quoted unless it is
/// a plain token.
fn property(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>,;:\\\"[]?=".contains(&b));
    if plain {
        value.to_string()
    } else {
        format!("\"{}\"", value.replace(['\\', '"'], ""))
    }
}

/// The core configuration for a session on a listener of `kind`.
pub fn server_config(ctx: &Context, kind: ListenerKind) -> SmtpServerConfig {
    let s = &ctx.settings();
    let mut c = SmtpServerConfig::default();
    c.hostname = s.config.hostname.clone();
    c.max_message_size = s.config.smtp.max_message_size;
    c.max_recipients = s.config.smtp.max_recipients;
    c.max_errors = s.config.smtp.max_errors;
    c.command_timeout = s.config.smtp.command_timeout.get();
    c.data_timeout = s.config.smtp.data_timeout.get();
    c.starttls = ctx.tls.is_available() && kind != ListenerKind::Submissions;
    c.implicit_tls = kind == ListenerKind::Submissions;
    c.require_auth = !matches!(kind, ListenerKind::Smtp | ListenerKind::Lmtp);
    // LMTP clients are trusted MTAs (RFC 2033 §5): no AUTH.
    c.auth = kind != ListenerKind::Lmtp;
    c.lmtp = kind == ListenerKind::Lmtp;
    c.allow_plaintext_auth = s.config.auth.allow_plaintext;
    c.max_auth_failures = s.config.auth.max_failures;
    c.auth_failure_delay = s.config.auth.failure_delay.get();
    c.max_messages = s.config.smtp.max_messages_per_connection;
    c.vrfy = match s.config.smtp.vrfy {
        VrfyMode::Verify => VrfyPolicy::Verify,
        VrfyMode::Off => VrfyPolicy::Disabled,
        VrfyMode::Ambiguous => VrfyPolicy::Ambiguous,
    };
    c
}

/// The header of a submitted message, held until it is complete so the RFC 6409 §8
/// fix-ups can be applied before it reaches the spool file.
#[derive(Debug, Default)]
enum HeaderFixer {
    /// Not a submission session, or the header was already written.
    #[default]
    Off,
    /// The trace field this host added is still to come (the first body chunk).
    AwaitTrace,
    /// Collecting the header.
    Collecting(Vec<u8>),
}

/// Largest header held for fix-ups; a longer one is spooled as it is.
const MAX_FIXUP_HEADER: usize = 1024 * 1024;

/// Where the header ends in `buf` (just after the empty line), if it does.
fn header_end(buf: &[u8]) -> Option<usize> {
    if buf.starts_with(b"\r\n") {
        return Some(2);
    }
    memchr::memmem::find(buf, b"\r\n\r\n").map(|i| i + 4)
}

/// Per-connection state of the runtime side.
#[derive(Debug)]
pub struct SmtpSession {
    ctx: Arc<Context>,
    peer: PeerInfo,
    helo: String,
    sender: String,
    spool: Option<Box<dyn MessageSpool>>,
    spool_error: bool,
    spool_full: bool,
    trusted: bool,
    kind: ListenerKind,
    fixer: HeaderFixer,
}

fn reply(code: u16, e: (u8, u16, u16), text: impl Into<String>) -> Reply {
    Reply::new(code, EnhancedCode::new(e.0, e.1, e.2), text)
}

impl SmtpSession {
    /// The machine and agent of a new connection on a listener of `kind`.
    pub fn start(ctx: &Arc<Context>, kind: ListenerKind, peer: PeerInfo) -> (SmtpServer, Self) {
        let server = SmtpServer::new(server_config(ctx, kind), peer, std::time::Instant::now());
        (server, Self::new(ctx.clone(), peer, kind))
    }

    /// Runtime state for a new connection from `peer` on a listener of `kind`.
    pub fn new(ctx: Arc<Context>, peer: PeerInfo, kind: ListenerKind) -> Self {
        ctx.metrics.connection(kind.protocol());
        // The `client=` line of each message and the `disconnect` line name the client.
        tracing::debug!(
            "connect from [{}]:{} ({})",
            peer.remote.ip(),
            peer.remote.port(),
            kind.name()
        );
        Self {
            ctx,
            peer,
            helo: String::new(),
            sender: String::new(),
            spool: None,
            spool_error: false,
            spool_full: false,
            trusted: false,
            kind,
            fixer: HeaderFixer::Off,
        }
    }

    /// Runtime state for a local `sendmail -bs` session: the invoking user is trusted to
    /// relay, as with Postfix.
    pub fn new_local(ctx: Arc<Context>, peer: PeerInfo) -> Self {
        let mut s = Self::new(ctx, peer, ListenerKind::Smtp);
        s.trusted = true;
        s
    }

    /// Whether handling `ev` is quick and cannot wait on the disk (no writes, no flush,
    /// no password hashing; at most a look at small cached tables such as the users
    /// file), so an async runtime may run it on its executor instead of the blocking
    /// pool: commands, DATA, and message bytes that still fit the spool's buffer.
    fn light(&self, ev: &SmtpEvent) -> bool {
        match ev {
            SmtpEvent::Auth { .. } | SmtpEvent::MessageComplete { .. } => false,
            SmtpEvent::BodyChunk(bytes) => {
                let held = match &self.fixer {
                    // The whole header (and its fix-ups) may be written at once.
                    HeaderFixer::Collecting(header) => header.len() + 4096,
                    _ => 0,
                };
                self.spool
                    .as_ref()
                    .is_none_or(|s| s.buffers(bytes.len() + held))
            }
            SmtpEvent::DataAborted | SmtpEvent::Reset => {
                self.spool.as_ref().is_none_or(|s| !s.has_file())
            }
            // The recipient checks (account, quota) are database round trips with
            // PostgreSQL, local file reads otherwise.
            SmtpEvent::RcptTo { .. } => self.ctx.mailboxes.reads_locally(),
            _ => true,
        }
    }

    /// Handles one event from the machine, answering any token it carries.
    fn on_event(&mut self, s: &mut SmtpServer, ev: SmtpEvent) -> Flow {
        match ev {
            SmtpEvent::Helo { token, name, .. } => {
                self.helo = name;
                s.respond(token, Verdict::Accept);
            }
            SmtpEvent::Auth {
                token, credentials, ..
            } => {
                let (outcome, hold) = crate::login::sasl_login(
                    &self.ctx,
                    self.peer.remote.ip(),
                    "smtp",
                    &credentials,
                );
                s.auth_result(token, outcome, hold);
            }
            SmtpEvent::Vrfy { token, argument } => {
                let name = argument
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>');
                let (local, domain) = name.rsplit_once('@').unwrap_or((name, ""));
                let known = (domain.is_empty() || self.ctx.settings().is_local_domain(domain))
                    && self.ctx.is_local_recipient(local);
                s.respond(
                    token,
                    if known {
                        Verdict::Accept
                    } else {
                        Verdict::Reject(reply(
                            550,
                            (5, 1, 1),
                            format!("<{name}>: Recipient address rejected: User unknown in local recipient table"),
                        ))
                    },
                );
            }
            SmtpEvent::MailFrom { token, from, .. } => {
                self.sender = from.to_string();
                let verdict = match s.authenticated() {
                    Some(user) if !self.sender_allowed(user, &from) => {
                        tracing::info!(
                            "NOQUEUE: reject: MAIL from [{}]: sender <{from}> not owned by user {user}",
                            self.peer.remote.ip()
                        );
                        self.ctx.metrics.rejected("sender_not_owned");
                        Verdict::Reject(reply(
                            553,
                            (5, 7, 1),
                            format!("<{from}>: Sender address rejected: not owned by user {user}"),
                        ))
                    }
                    _ => Verdict::Accept,
                };
                s.respond(token, verdict);
            }
            SmtpEvent::RcptTo { token, to, .. } => {
                let verdict = self.check_recipient(&to, s.authenticated().is_some());
                if let Verdict::Reject(r) = &verdict {
                    self.ctx.metrics.rejected(recipient_reject_reason(r));
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
                self.spool_full = false;
                self.fixer = if matches!(self.kind, ListenerKind::Smtp | ListenerKind::Lmtp) {
                    HeaderFixer::Off
                } else {
                    HeaderFixer::AwaitTrace
                };
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
                        s.data_start(token, Err(queue_failure(is_storage_full(&e))));
                    }
                }
            }
            SmtpEvent::BodyChunk(bytes) => self.body_chunk(&bytes),
            SmtpEvent::DataAborted | SmtpEvent::Reset => {
                self.fixer = HeaderFixer::Off;
                if let Some(spool) = self.spool.take() {
                    tracing::info!("{}: discarded (data not accepted)", spool.id());
                }
            }
            SmtpEvent::MessageComplete {
                token,
                envelope,
                size,
            } => {
                if let HeaderFixer::Collecting(header) = std::mem::take(&mut self.fixer) {
                    // The message ended inside its header (no empty line): fix it whole.
                    let fixed = self.fix_header(&header);
                    self.spool_write(&fixed);
                }
                if self.kind == ListenerKind::Lmtp {
                    let replies = self.deliver_now(&envelope, size);
                    s.message_delivered(token, replies);
                    return Flow::Continue;
                }
                let result = self.commit(envelope, size, s.authenticated());
                if result.is_ok() {
                    self.ctx.metrics.received();
                }
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

    /// Appends message bytes to the spool file, remembering a failure for the commit.
    fn spool_write(&mut self, bytes: &[u8]) {
        if let Some(spool) = self.spool.as_mut() {
            if !self.spool_error {
                if let Err(e) = spool.write(bytes) {
                    tracing::error!("{}: queue file write error: {e}", spool.id());
                    self.spool_error = true;
                    self.spool_full |= is_storage_full(&e);
                }
            }
        }
    }

    /// Passes a body chunk to the spool, through the header fix-ups on submission.
    fn body_chunk(&mut self, bytes: &[u8]) {
        match std::mem::take(&mut self.fixer) {
            HeaderFixer::Off => self.spool_write(bytes),
            HeaderFixer::AwaitTrace => {
                self.spool_write(bytes);
                self.fixer = HeaderFixer::Collecting(Vec::new());
            }
            HeaderFixer::Collecting(mut header) => {
                header.extend_from_slice(bytes);
                match header_end(&header) {
                    Some(end) => {
                        let fixed = self.fix_header(&header[..end]);
                        self.spool_write(&fixed);
                        self.spool_write(&header[end..]);
                    }
                    None if header.len() > MAX_FIXUP_HEADER => self.spool_write(&header),
                    None => self.fixer = HeaderFixer::Collecting(header),
                }
            }
        }
    }

    /// RFC 6409 §8 fix-ups of a submitted header: Date and Message-ID added when missing,
    /// Bcc removed, unqualified addresses completed.
    fn fix_header(&self, header: &[u8]) -> Vec<u8> {
        let settings = self.ctx.settings();
        let hostname = settings.config.hostname.as_str();
        let id = self.spool.as_ref().map_or("0", |s| s.id());
        let unique = format!("{id}.{}", unix_now());
        let sender = if self.sender.is_empty() {
            "MAILER-DAEMON"
        } else {
            &self.sender
        };
        fixup(
            header,
            &FixupParams {
                hostname,
                sender,
                full_name: None,
                now: wall_now(),
                unique: &unique,
            },
        )
        .message
    }

    /// Whether an authenticated `user` may use `from` as the envelope sender: the null
    /// sender, `user@` a local domain, or a local alias that leads only to `user`.
    fn sender_allowed(&self, user: &str, from: &ReversePath) -> bool {
        let settings = &self.ctx.settings();
        if !settings.config.submission.sender_login_match {
            return true;
        }
        let m = match from {
            ReversePath::Null => return true,
            ReversePath::Mailbox(m) => m,
        };
        if !settings.is_local_domain(&m.domain) {
            return false;
        }
        let local = m.local_part_unquoted().to_ascii_lowercase();
        if local == user.to_ascii_lowercase() {
            return true;
        }
        self.ctx.aliases.lookup(&local).is_some_and(|targets| {
            !targets.is_empty()
                && targets.iter().all(|t| {
                    let (l, d) = t.rsplit_once('@').unwrap_or((t.as_str(), ""));
                    l.eq_ignore_ascii_case(user) && (d.is_empty() || settings.is_local_domain(d))
                })
        })
    }

    /// Authenticates the sender of the spooled message: its DKIM signatures, if it has any
    /// (`[smtp] verify_dkim`), and SPF for MAIL FROM or HELO (`[smtp] verify_spf`).
    /// Returns the Authentication-Results field to add at delivery.
    fn check_sender(
        &self,
        spool: &mut dyn MessageSpool,
        id: &str,
        sender: &str,
    ) -> Option<SenderCheck> {
        use crate::dkim_verify::{push_results, run_check, verify};
        use postrider_core::dkim::verify::Verdict as DkimVerdict;
        use postrider_core::spf::{SpfCheck, SpfRequest, SpfResult};
        let smtp = &self.ctx.settings().config.smtp;
        if !smtp.verify_dkim && !smtp.verify_spf && !smtp.verify_dmarc {
            return None;
        }
        let resolver = crate::resolver::Resolver::from_settings(&self.ctx.settings()).impatient();
        let now = unix_now();
        let head = spool.head(64 * 1024).ok()?;
        let mut dkim = Vec::new();
        if smtp.verify_dkim {
            let (fields, _) = postrider_core::imf::header::split_header_to_blank_line(&head);
            if fields.iter().any(|f| f.is("DKIM-Signature")) {
                match spool.contents() {
                    Ok(content) => {
                        dkim = verify(&content, now, &resolver);
                    }
                    Err(e) => tracing::error!("{id}: cannot read the message back for DKIM: {e}"),
                }
            }
        }
        let mut out = format!(
            "Authentication-Results: {}",
            self.ctx.settings().config.hostname
        );
        // One log line for all of a message's checks (as opendmarc's one per message).
        let mut logged: Vec<String> = dkim
            .iter()
            .map(|r| {
                format!(
                    "dkim={} d={} s={}",
                    r.verdict.keyword(),
                    r.domain,
                    r.selector
                )
            })
            .collect();
        if smtp.verify_dkim {
            push_results(&mut out, &dkim);
        }
        let mut spf_pass = None;
        if smtp.verify_spf {
            let request = SpfRequest {
                ip: self.peer.remote.ip(),
                sender: sender.to_string(),
                helo: self.helo.clone(),
                receiver: self.ctx.settings().config.hostname.clone(),
                now,
            };
            let (result, identity, domain) = if sender.is_empty() {
                (
                    run_check(SpfCheck::helo(request), &resolver, now),
                    format!("smtp.helo={}", property(&self.helo)),
                    self.helo.clone(),
                )
            } else {
                (
                    run_check(SpfCheck::mail_from(request), &resolver, now),
                    format!("smtp.mailfrom={}", property(sender)),
                    sender
                        .rsplit_once('@')
                        .map_or(sender, |(_, d)| d)
                        .to_string(),
                )
            };
            logged.push(format!("spf={} {identity}", result.keyword()));
            out.push_str(&format!(";\r\n\tspf={} {identity}", result.keyword()));
            if result == SpfResult::Pass {
                spf_pass = Some(domain);
            }
        }
        let mut dmarc = None;
        if smtp.verify_dmarc {
            let evidence = postrider_core::dmarc::Evidence {
                dkim_pass: dkim
                    .iter()
                    .filter(|r| r.verdict == DkimVerdict::Pass)
                    .map(|r| r.domain.clone())
                    .collect(),
                spf_pass,
            };
            let check = postrider_core::dmarc::DmarcCheck::new(&head, evidence, pct_sample());
            let outcome = run_check(check, &resolver, now);
            let disposition = dmarc_disposition(smtp.dmarc_policy, &outcome);
            let mut result = format!(";\r\n\tdmarc={}", outcome.verdict.keyword());
            if let Some(p) = outcome.published {
                result.push_str(&format!(
                    " (p={} dis={})",
                    p.keyword(),
                    disposition.keyword()
                ));
            } else if let postrider_core::dmarc::Verdict::PermError(why) = &outcome.verdict {
                result.push_str(&format!(" ({why})"));
            }
            if let Some(d) = &outcome.header_from {
                result.push_str(&format!(" header.from={}", property(d)));
            }
            logged.push(
                result
                    .trim_start_matches([';', '\r', '\n', '\t'])
                    .to_string(),
            );
            out.push_str(&result);
            dmarc = Some((outcome, disposition));
        }
        if dkim.is_empty() && !smtp.verify_spf && dmarc.is_none() {
            return None;
        }
        out.push_str("\r\n");
        Some(SenderCheck {
            auth_results: out,
            dmarc,
            summary: logged.join(", "),
        })
    }

    fn commit(
        &mut self,
        envelope: postrider_core::smtp::Envelope,
        size: u64,
        auth: Option<&str>,
    ) -> Result<(), Reply> {
        let Some(spool) = self.spool.take() else {
            return Err(queue_failure(false));
        };
        if self.spool_error {
            return Err(queue_failure(self.spool_full));
        }
        let mut spool = spool;
        let id = spool.id().to_string();
        // Mail from authenticated users is signed for its From domain (DKIM).
        let dkim = if auth.is_some() {
            match spool.contents() {
                Ok(content) => crate::dkim::sign(&self.ctx.settings(), &content, unix_now()),
                Err(e) => {
                    tracing::error!("{id}: cannot read the message back for DKIM: {e}");
                    None
                }
            }
        } else {
            None
        };
        // Mail from other hosts has its sender authenticated (DKIM, SPF, DMARC).
        let checked = if auth.is_none() && self.kind == ListenerKind::Smtp {
            let sender = match &envelope.from {
                ReversePath::Null => String::new(),
                ReversePath::Mailbox(m) => m.to_string(),
            };
            self.check_sender(&mut *spool, &id, &sender)
        } else {
            None
        };
        let mut quarantine = false;
        let checks = checked
            .as_ref()
            .map(|c| format!(", {}", c.summary))
            .filter(|c| c.len() > 2)
            .unwrap_or_default();
        if let Some((outcome, disposition)) = checked.as_ref().and_then(|c| c.dmarc.as_ref()) {
            let domain = outcome.header_from.as_deref().unwrap_or_default();
            match disposition {
                Policy::Reject => {
                    tracing::info!("{id}: rejected: DMARC policy of {domain}{checks}");
                    self.ctx.metrics.rejected("dmarc");
                    return Err(reply(
                        550,
                        (5, 7, 1),
                        format!(
                            "Message rejected: DMARC policy of {domain} (unauthenticated From)"
                        ),
                    ));
                }
                Policy::Quarantine => {
                    tracing::info!("{id}: quarantined: DMARC policy of {domain}");
                    quarantine = true;
                }
                Policy::None => {}
            }
        }
        let mut env = self.queue_envelope(&id, &envelope, size, auth);
        env.dkim = dkim;
        env.auth_results = checked.map(|c| c.auth_results);
        env.quarantine = quarantine;
        let sender = env.sender.clone();
        match spool.commit(&env) {
            Ok(()) => {
                tracing::info!(
                    "{}: from=<{}>, size={}, nrcpt={}{checks} (queue active)",
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
                Err(queue_failure(is_storage_full(&e)))
            }
        }
    }

    /// The queue's envelope for the message `id` the machine received.
    fn queue_envelope(
        &self,
        id: &str,
        envelope: &postrider_core::smtp::Envelope,
        size: u64,
        auth: Option<&str>,
    ) -> Envelope {
        let sender = match &envelope.from {
            ReversePath::Null => String::new(),
            ReversePath::Mailbox(m) => m.to_string(),
        };
        let dsn = mail_dsn(&envelope.mail_params).unwrap_or_default();
        Envelope {
            id: id.to_string(),
            arrival: unix_now(),
            sender,
            client: self.peer.remote.ip().to_string(),
            helo: self.helo.clone(),
            size,
            auth: auth.map(str::to_string),
            ret: dsn.ret.map(|r| r.as_str().to_string()),
            envid: dsn.envid,
            dkim: None,
            auth_results: None,
            quarantine: false,
            stored: None,
            binary: envelope.mail_params.iter().any(|p| {
                p.is("BODY")
                    && p.value
                        .as_deref()
                        .is_some_and(|v| v.eq_ignore_ascii_case("BINARYMIME"))
            }),
            require_tls: envelope.mail_params.iter().any(|p| p.is("REQUIRETLS")),
            recipients: envelope
                .recipients
                .iter()
                .map(|(r, params)| {
                    let mut rcpt =
                        Recipient::new(recipient_address(r, self.ctx.settings().primary_domain()));
                    let dsn = rcpt_dsn(params).unwrap_or_default();
                    rcpt.notify = dsn.notify.map(|n| n.to_value());
                    rcpt.orcpt = dsn.orcpt;
                    rcpt
                })
                .collect(),
        }
    }

    /// LMTP: delivers the spooled message to each recipient while the client waits (see
    /// [`crate::lmtp`]) and returns one reply per recipient. The spool is discarded: a
    /// message delivered over LMTP never enters the queue.
    fn deliver_now(&mut self, envelope: &postrider_core::smtp::Envelope, size: u64) -> Vec<Reply> {
        let n = envelope.recipients.len();
        let Some(mut spool) = self.spool.take() else {
            return vec![queue_failure(false); n];
        };
        if self.spool_error {
            return vec![queue_failure(self.spool_full); n];
        }
        let id = spool.id().to_string();
        let message = match spool.contents() {
            Ok(m) => m,
            Err(e) => {
                tracing::error!("{id}: cannot read the message back: {e}");
                return vec![queue_failure(is_storage_full(&e)); n];
            }
        };
        drop(spool);
        let env = self.queue_envelope(&id, envelope, size, None);
        tracing::info!("{id}: from=<{}>, size={size}, nrcpt={n} (lmtp)", env.sender);
        self.ctx.metrics.received();
        crate::lmtp::deliver(&self.ctx, &env, &message)
    }

    /// RCPT policy: local domains need a known recipient; other domains need an
    /// authenticated or trusted client (no open relay).
    fn check_recipient(&self, to: &ForwardPath, authenticated: bool) -> Verdict {
        let m = match to {
            ForwardPath::Postmaster => return Verdict::Accept,
            ForwardPath::Mailbox(m) => m,
        };
        let settings = &self.ctx.settings();
        if settings.is_local_domain(&m.domain) {
            let Some(local) = self.ctx.local_recipient(&m.local_part_unquoted()) else {
                return Verdict::Reject(reply(
                    550,
                    (5, 1, 1),
                    format!(
                        "<{m}>: Recipient address rejected: User unknown in local recipient table"
                    ),
                ));
            };
            if let Some(full) = self
                .ctx
                .accounts
                .exists(&local)
                .then(|| crate::quota::over_quota(&self.ctx, &local, 1))
                .flatten()
            {
                tracing::info!("{}", crate::quota::full_text(&local, full));
                Verdict::Reject(reply(
                    452,
                    (4, 2, 2),
                    format!("<{m}>: Recipient address rejected: Mailbox full"),
                ))
            } else {
                Verdict::Accept
            }
        } else if self.kind == ListenerKind::Lmtp {
            // LMTP delivers; it never relays.
            Verdict::Reject(reply(
                550,
                (5, 1, 2),
                format!("<{m}>: Recipient address rejected: domain not handled here"),
            ))
        } else if self.trusted || authenticated || settings.is_trusted(self.peer.remote.ip()) {
            Verdict::Accept
        } else {
            Verdict::Reject(reply(554, (5, 7, 1), format!("<{m}>: Relay access denied")))
        }
    }
}

/// What the sender checks of a message from another host found.
struct SenderCheck {
    /// The whole `Authentication-Results:` field, CRLF-terminated.
    auth_results: String,
    /// The DMARC outcome and what this host does about it, when DMARC was evaluated.
    dmarc: Option<(postrider_core::dmarc::Outcome, Policy)>,
    /// The results for the log (`dkim=pass d=... s=..., spf=..., dmarc=...`): they go
    /// on the message's `from=` line (or its rejection's), not on a line of their own.
    summary: String,
}

/// What to do with a message given `[smtp] dmarc_policy` (`record`, `quarantine`,
/// `enforce`) and its DMARC outcome: only failures whose domain asks for more than `none`.
fn dmarc_disposition(mode: DmarcMode, outcome: &postrider_core::dmarc::Outcome) -> Policy {
    if outcome.verdict != postrider_core::dmarc::Verdict::Fail {
        return Policy::None;
    }
    match (mode, outcome.requested) {
        (DmarcMode::Enforce, requested) => requested,
        (DmarcMode::Quarantine, Policy::Reject | Policy::Quarantine) => Policy::Quarantine,
        _ => Policy::None,
    }
}

/// A number in 0..100 for DMARC `pct=` sampling. Sampling needs no secret randomness:
/// the standard library's per-thread random hash keys (seeded once per thread, then
/// stepped on each use) give it without a system call per message.
fn pct_sample() -> u8 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::hash::RandomState::new().build_hasher();
    h.write_u8(0);
    (h.finish() % 100) as u8
}

/// Whether an IO error means the disk (or the quota) is full.
pub fn is_storage_full(e: &std::io::Error) -> bool {
    // ENOSPC and EDQUOT on Linux.
    e.kind() == std::io::ErrorKind::StorageFull || matches!(e.raw_os_error(), Some(28 | 122))
}

/// The reply for a message the queue could not take: 452 4.3.1 when the disk is full
/// (RFC 3463: mail system full; the client retries later), else 451 4.3.0.
pub fn queue_failure(storage_full: bool) -> Reply {
    if storage_full {
        reply(452, (4, 3, 1), "Error: insufficient system storage")
    } else {
        reply(451, (4, 3, 0), "Error: queue file write error")
    }
}

impl Agent for SmtpSession {
    type Machine = SmtpServer;

    fn handle(&mut self, m: &mut SmtpServer, ev: SmtpEvent) -> Flow {
        self.on_event(m, ev)
    }

    fn cost(&self, ev: &SmtpEvent) -> Cost {
        if self.light(ev) {
            Cost::Light
        } else {
            Cost::Blocking
        }
    }
}

/// Why a recipient was refused, for the metrics: from the reply's enhanced status code.
fn recipient_reject_reason(r: &Reply) -> &'static str {
    let text = r.summary();
    if text.contains("5.7.1") {
        "relay_denied"
    } else if text.contains("5.1.1") {
        "unknown_recipient"
    } else if r.code / 100 == 4 {
        "temporary"
    } else {
        "policy"
    }
}

/// The queue form of a recipient: `<Postmaster>` becomes `postmaster@` the first local domain.
fn recipient_address(r: &ForwardPath, domain: &str) -> String {
    match r {
        ForwardPath::Postmaster => format!("postmaster@{domain}"),
        ForwardPath::Mailbox(m) => m.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_disk_is_452_431_other_errors_451_430() {
        let full = std::io::Error::from_raw_os_error(28);
        let quota = std::io::Error::from_raw_os_error(122);
        let other = std::io::Error::from_raw_os_error(5);
        assert!(is_storage_full(&full) && is_storage_full(&quota) && !is_storage_full(&other));
        assert_eq!(
            queue_failure(true).summary(),
            "452 4.3.1 Error: insufficient system storage"
        );
        assert_eq!(
            queue_failure(false).summary(),
            "451 4.3.0 Error: queue file write error"
        );
    }
}
