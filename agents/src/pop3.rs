//! The runtime side of a POP3 session, shared by both runtimes: logins and the
//! maildrop (opened, read chunk by chunk for RETR/TOP, rewritten at QUIT).

use std::io;
use std::sync::Arc;

use postrider_core::machine::PeerInfo;
use postrider_core::pop3::{OpenError, Pop3Config, Pop3Event, Pop3Server};

use crate::agent::{Agent, Flow};
use crate::context::Context;
use crate::listener::ListenerKind;
use crate::login::sasl_login;
use postrider_store::mailbox::{Maildrop, MessageChunks};

/// The core configuration for a POP3 session on a listener of `kind`.
pub fn pop3_config(ctx: &Context, kind: ListenerKind) -> Pop3Config {
    let s = &ctx.settings();
    let mut c = Pop3Config::default();
    c.hostname = s.config.hostname.clone();
    c.implicit_tls = kind == ListenerKind::Pop3s;
    c.starttls = ctx.tls.is_available() && !c.implicit_tls;
    c.allow_plaintext_auth = s.config.auth.allow_plaintext;
    c.max_auth_failures = s.config.auth.max_failures;
    c.auth_failure_delay = s.config.auth.failure_delay.get();
    c.idle_timeout = s.config.pop3.idle_timeout.get();
    c
}

/// Per-connection state of the runtime side.
#[derive(Debug)]
pub struct Pop3Session {
    ctx: Arc<Context>,
    peer: PeerInfo,
    maildrop: Option<Box<dyn Maildrop>>,
    /// The message a RETR or TOP is sending, read chunk by chunk as the machine asks.
    retrieving: Option<Box<dyn MessageChunks>>,
    user: String,
}

impl Pop3Session {
    /// The machine and agent of a new connection on a listener of `kind`.
    pub fn start(ctx: &Arc<Context>, kind: ListenerKind, peer: PeerInfo) -> (Pop3Server, Self) {
        let server = Pop3Server::new(pop3_config(ctx, kind), std::time::Instant::now());
        (server, Self::new(ctx.clone(), peer))
    }

    /// State for a new connection.
    pub fn new(ctx: Arc<Context>, peer: PeerInfo) -> Self {
        ctx.metrics.connection("pop3");
        tracing::info!(
            "pop3: connect from [{}]:{}",
            peer.remote.ip(),
            peer.remote.port()
        );
        Self {
            ctx,
            peer,
            maildrop: None,
            retrieving: None,
            user: String::new(),
        }
    }
}

impl Pop3Session {
    /// The machine's form of a chunk read for RETR/TOP; the stream is dropped after its
    /// last chunk or an error.
    fn chunk_answer(
        &mut self,
        chunk: io::Result<Option<Vec<u8>>>,
    ) -> Result<Option<Vec<u8>>, String> {
        if !matches!(chunk, Ok(Some(_))) {
            self.retrieving = None;
        }
        chunk.map_err(|e| {
            tracing::error!("pop3: {}: cannot read a message: {e}", self.user);
            e.to_string()
        })
    }
}

impl Agent for Pop3Session {
    type Machine = Pop3Server;

    fn handle(&mut self, s: &mut Pop3Server, ev: Pop3Event) -> Flow {
        match ev {
            Pop3Event::Authenticate { token, credentials } => {
                let (outcome, hold) =
                    sasl_login(&self.ctx, self.peer.remote.ip(), "pop3", &credentials);
                s.auth_result(token, outcome, hold);
            }
            Pop3Event::OpenMaildrop { token, user } => {
                match self.ctx.mailboxes.open_maildrop(&user) {
                    Ok(m) => {
                        let listing = m.listing();
                        tracing::info!(
                            "pop3: {user} logged in from [{}]: {} messages",
                            self.peer.remote.ip(),
                            listing.len()
                        );
                        self.maildrop = Some(m);
                        self.user = user;
                        s.maildrop_opened(token, Ok(listing));
                    }
                    Err(e) => {
                        if let OpenError::Failed(why) = &e {
                            tracing::error!("pop3: cannot open the maildrop of {user}: {why}");
                        }
                        s.maildrop_opened(token, Err(e));
                    }
                }
            }
            Pop3Event::Retrieve {
                token,
                index,
                top_lines,
            } => {
                self.retrieving = None;
                let chunk = match &self.maildrop {
                    Some(m) => m.stream(index, top_lines).and_then(|mut stream| {
                        let first = stream.next_chunk();
                        self.retrieving = Some(stream);
                        first
                    }),
                    None => Err(io::Error::other("no maildrop open")),
                };
                s.retrieve_chunk(token, self.chunk_answer(chunk));
            }
            Pop3Event::RetrieveMore { token } => {
                let chunk = match self.retrieving.as_mut() {
                    Some(stream) => stream.next_chunk(),
                    None => Ok(None),
                };
                s.retrieve_chunk(token, self.chunk_answer(chunk));
            }
            Pop3Event::Commit { token, deleted } => {
                let result = match &self.maildrop {
                    Some(m) => m.commit(&deleted).map_err(|e| e.to_string()),
                    None => Ok(()),
                };
                match &result {
                    Ok(()) => tracing::info!(
                        "pop3: {} logged out, {} messages deleted",
                        self.user,
                        deleted.len()
                    ),
                    Err(e) => {
                        tracing::error!("pop3: {}: cannot remove messages: {e}", self.user)
                    }
                }
                s.committed(token, result);
            }
            Pop3Event::StartTls => return Flow::StartTls,
            Pop3Event::Closed { reason } => {
                self.maildrop = None;
                self.retrieving = None;
                tracing::info!(
                    "pop3: disconnect from [{}] ({reason:?})",
                    self.peer.remote.ip()
                );
                return Flow::Close;
            }
        }
        Flow::Continue
    }
}
