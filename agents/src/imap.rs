//! The runtime side of an IMAP session, shared by both runtimes: logins and the mail
//! store answering the machine's requests.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use postrider_core::imap::server::{
    ImapConfig, ImapEvent, ImapServer, StoreError, StoreReply, StoreRequest,
};
use postrider_core::machine::{AuthOutcome, PeerInfo};

use crate::agent::{Agent, Cost, Flow};
use crate::context::Context;
use crate::listener::ListenerKind;
use crate::login::sasl_login;
use crate::quota::{over_quota, over_quota_with};
use postrider_store::mailbox::{Mailboxes, MessageChunks, RangeChunks};

/// The core configuration for an IMAP session on a listener of `kind`.
pub fn imap_config(ctx: &Context, kind: ListenerKind) -> ImapConfig {
    let s = &ctx.settings();
    let mut c = ImapConfig::default();
    c.hostname = s.config.hostname.clone();
    c.implicit_tls = kind == ListenerKind::Imaps;
    c.starttls = ctx.tls.is_available() && !c.implicit_tls;
    c.allow_plaintext_auth = s.config.auth.allow_plaintext;
    c.max_auth_failures = s.config.auth.max_failures;
    c.auth_failure_delay = s.config.auth.failure_delay.get();
    c.idle_timeout = s.config.imap.idle_timeout.get();
    c.max_literal = (s.config.smtp.max_message_size as usize)
        .saturating_mul(2)
        .max(1024 * 1024);
    c
}

/// Per-connection state of the runtime side.
#[derive(Debug)]
pub struct ImapSession {
    ctx: Arc<Context>,
    peer: PeerInfo,
    user: Option<String>,
    /// The message a FETCH is streaming (opened by `Read`, read on by `ReadMore`).
    reading: Option<RangeChunks>,
    /// How many messages each folder had when this session last saw it (what its next
    /// view may cost).
    view_sizes: HashMap<String, usize>,
}

/// The most messages a FETCH batch or flag change may name and still be brief.
const BRIEF_MESSAGES: usize = 1024;

/// The most messages a content scan (SEARCH TEXT, BODY, HEADER) may read and be brief.
const BRIEF_SCAN: usize = 64;

/// The most messages a folder may have for its view (SELECT, NOOP, IDLE, STATUS) to be
/// built on the executor.
const BRIEF_VIEW: usize = 5_000;

impl ImapSession {
    /// The machine and agent of a new connection on a listener of `kind`.
    pub fn start(ctx: &Arc<Context>, kind: ListenerKind, peer: PeerInfo) -> (ImapServer, Self) {
        let server = ImapServer::new(imap_config(ctx, kind), std::time::Instant::now());
        (server, Self::new(ctx.clone(), peer))
    }

    /// State for a new connection.
    pub fn new(ctx: Arc<Context>, peer: PeerInfo) -> Self {
        ctx.metrics.connection("imap");
        tracing::info!(
            "imap: connect from [{}]:{}",
            peer.remote.ip(),
            peer.remote.port()
        );
        Self {
            ctx,
            peer,
            user: None,
            reading: None,
            view_sizes: HashMap::new(),
        }
    }

    fn answer(&mut self, request: StoreRequest) -> StoreReply {
        if let StoreRequest::Login(c) = &request {
            let (outcome, hold) = sasl_login(&self.ctx, self.peer.remote.ip(), "imap", c);
            if let AuthOutcome::Success(user) = &outcome {
                self.user = Some(user.clone());
                self.ctx.mailboxes.ensure_special_use(user);
            }
            return StoreReply::Auth(outcome, hold);
        }
        let Some(user) = self.user.clone() else {
            return StoreReply::Done(Err(StoreError::new(None, "Not logged in")));
        };
        let store: &dyn Mailboxes = &*self.ctx.mailboxes;
        let user = user.as_str();
        match request {
            StoreRequest::Login(_) => StoreReply::Auth(AuthOutcome::Failure, Duration::ZERO),
            StoreRequest::Open {
                mailbox,
                claim_recent,
            }
            | StoreRequest::Refresh {
                mailbox,
                claim_recent,
            } => {
                let view = store.view(user, &mailbox, claim_recent);
                self.note_size(mailbox, view.as_ref().map(|v| v.messages.len()));
                StoreReply::View(view)
            }
            StoreRequest::Poll {
                mailbox,
                claim_recent,
            } => {
                let view = store.poll_view(user, &mailbox, claim_recent);
                self.note_size(mailbox, view.as_ref().map(|v| v.messages.len()));
                StoreReply::View(view)
            }
            StoreRequest::List {
                reference,
                pattern,
                subscribed,
            } => StoreReply::List(store.list(user, &reference, &pattern, subscribed)),
            StoreRequest::Status { mailbox } => {
                let status = store.status(user, &mailbox);
                self.note_size(mailbox, status.as_ref().map(|s| s.messages as usize));
                StoreReply::Status(status)
            }
            StoreRequest::Create(m) => StoreReply::Done(store.create(user, &m)),
            StoreRequest::CreateSpecialUse { mailbox, uses } => {
                StoreReply::Done(store.create_special_use(user, &mailbox, &uses))
            }
            StoreRequest::Delete(m) => StoreReply::Done(store.delete(user, &m)),
            StoreRequest::Rename(a, b) => StoreReply::Done(store.rename(user, &a, &b)),
            StoreRequest::Subscribe(m, on) => StoreReply::Done(store.subscribe(user, &m, on)),
            StoreRequest::Append {
                mailbox,
                flags,
                date,
                message,
            } => StoreReply::Appended(match over_quota(&self.ctx, user, message.len() as u64) {
                Some(full) => Err(quota_refusal(user, full)),
                None => store.append(user, &mailbox, &flags, date, &message),
            }),
            StoreRequest::Fetch {
                mailbox,
                uids,
                part,
            } => StoreReply::Messages(store.fetch(user, &mailbox, &uids, part)),
            StoreRequest::Read {
                mailbox,
                uid,
                start,
                len,
            } => {
                self.reading = None;
                match store.open_message(user, &mailbox, uid) {
                    Ok(inner) => {
                        self.reading = Some(RangeChunks::new(inner, start, len));
                        StoreReply::Chunk(self.read_more())
                    }
                    Err(e) => StoreReply::Chunk(Err(e)),
                }
            }
            StoreRequest::ReadMore => StoreReply::Chunk(self.read_more()),
            StoreRequest::Scan {
                mailbox,
                uids,
                scan,
            } => StoreReply::Scanned(store.scan(user, &mailbox, &uids, &scan)),
            StoreRequest::SetFlags {
                mailbox,
                uids,
                mode,
                flags,
                unchanged_since,
            } => StoreReply::Flags(store.store_flags(
                user,
                &mailbox,
                &uids,
                mode,
                &flags,
                unchanged_since,
            )),
            StoreRequest::Vanished { mailbox, since } => {
                StoreReply::Vanished(store.vanished(user, &mailbox, since))
            }
            StoreRequest::Expunge { mailbox, uids } => {
                StoreReply::Done(store.expunge(user, &mailbox, &uids))
            }
            StoreRequest::Copy {
                mailbox,
                uids,
                to,
                is_move,
            } => StoreReply::Copied(match self.copy_over_quota(user, &mailbox, &uids, is_move) {
                Some(full) => Err(quota_refusal(user, full)),
                None => store.copy(user, &mailbox, &uids, &to, is_move),
            }),
            StoreRequest::Subscriptions => StoreReply::Subscriptions(store.subscriptions(user)),
            StoreRequest::Quota => StoreReply::Quota(
                store
                    .quota(user)
                    .and_then(|limit| Ok((store.usage(user)?, limit))),
            ),
        }
    }
}

/// `NO [OVERQUOTA]` for an APPEND or COPY that does not fit (RFC 9208 §4.2).
fn quota_refusal(user: &str, full: (u64, u64)) -> StoreError {
    tracing::info!("imap: {}", crate::quota::full_text(user, full));
    StoreError::new(
        Some("OVERQUOTA"),
        "Quota exceeded (mailbox for user is full)",
    )
}

impl ImapSession {
    /// Whether copying these messages would take `user` over their limit (a move within
    /// the account adds nothing).
    fn copy_over_quota(
        &self,
        user: &str,
        mailbox: &str,
        uids: &[u32],
        is_move: bool,
    ) -> Option<(u64, u64)> {
        if is_move {
            return None;
        }
        over_quota_with(&self.ctx, user, || {
            self.ctx
                .mailboxes
                .view(user, mailbox, false)
                .map(|v| {
                    v.messages
                        .iter()
                        .filter(|m| uids.contains(&m.uid))
                        .map(|m| m.size)
                        .sum()
                })
                .unwrap_or(0)
        })
    }

    /// Remembers how many messages `mailbox` had (nothing when it could not be read).
    fn note_size<E>(&mut self, mailbox: String, size: Result<usize, &E>) {
        match size {
            Ok(n) => {
                self.view_sizes.insert(mailbox, n);
            }
            Err(_) => {
                self.view_sizes.remove(&mailbox);
            }
        }
    }

    /// The next chunk of the message being streamed.
    fn read_more(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(r) = self.reading.as_mut() else {
            return Ok(None);
        };
        let chunk = r.next_chunk().map_err(|e| {
            tracing::error!("imap: cannot read a message: {e}");
            StoreError::new(Some("SERVERBUG"), "Internal error.")
        });
        if !matches!(chunk, Ok(Some(_))) {
            self.reading = None;
        }
        chunk
    }
}

impl Agent for ImapSession {
    type Machine = ImapServer;

    /// Requests to a store on local files that read a bounded amount are brief: a FETCH
    /// batch, a streamed chunk, flag changes (their records are not fsynced) of up to
    /// [`BRIEF_MESSAGES`] messages, a content scan of up to [`BRIEF_SCAN`], folder views
    /// and STATUS of folders last seen with up to [`BRIEF_VIEW`] messages, LIST. Logins
    /// (a password hash), anything that saves or removes messages (fsynced), larger work
    /// and every request to a database are blocking.
    fn cost(&self, ev: &ImapEvent) -> Cost {
        let ImapEvent::Request { request, .. } = ev else {
            return Cost::Light;
        };
        if self.user.is_none() || !self.ctx.mailboxes.reads_locally() {
            return Cost::Blocking;
        }
        let small_view = |mailbox: &str| {
            self.view_sizes
                .get(mailbox)
                .is_some_and(|&n| n <= BRIEF_VIEW)
        };
        let brief = match request {
            StoreRequest::Fetch { uids, .. } | StoreRequest::SetFlags { uids, .. } => {
                uids.len() <= BRIEF_MESSAGES
            }
            StoreRequest::Scan { uids, .. } => uids.len() <= BRIEF_SCAN,
            StoreRequest::Read { .. }
            | StoreRequest::ReadMore
            | StoreRequest::List { .. }
            | StoreRequest::Subscriptions => true,
            StoreRequest::Open { mailbox, .. }
            | StoreRequest::Refresh { mailbox, .. }
            | StoreRequest::Poll { mailbox, .. }
            | StoreRequest::Vanished { mailbox, .. }
            | StoreRequest::Status { mailbox } => small_view(mailbox),
            StoreRequest::Login(_)
            | StoreRequest::Create(_)
            | StoreRequest::CreateSpecialUse { .. }
            | StoreRequest::Delete(_)
            | StoreRequest::Rename(..)
            | StoreRequest::Subscribe(..)
            | StoreRequest::Append { .. }
            | StoreRequest::Expunge { .. }
            | StoreRequest::Copy { .. }
            | StoreRequest::Quota => false,
        };
        if brief {
            Cost::Brief
        } else {
            Cost::Blocking
        }
    }

    /// Answers a store request; the driver writes its responses (a FETCH batch, say)
    /// before it hands over the next event while they pile up.
    fn handle(&mut self, s: &mut ImapServer, ev: ImapEvent) -> Flow {
        match ev {
            ImapEvent::Request { token, request } => {
                let reply = self.answer(request);
                s.reply(token, reply);
                Flow::Continue
            }
            ImapEvent::StartTls => Flow::StartTls,
            ImapEvent::StartCompression => Flow::StartCompression,
            ImapEvent::Closed { reason } => {
                tracing::info!(
                    "imap: disconnect from [{}] ({reason:?})",
                    self.peer.remote.ip()
                );
                Flow::Close
            }
        }
    }
}
