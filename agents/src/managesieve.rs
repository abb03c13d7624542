//! The runtime side of a ManageSieve session (RFC 5804), shared by both runtimes: logins,
//! and the user's named scripts in [`crate::context::Context::sieve_scripts`] (the active
//! one is what delivery runs, in place of `~/.sieve`).

use std::sync::Arc;

use postrider_core::machine::PeerInfo;
use postrider_core::managesieve::{
    Answer, ManageSieveConfig, ManageSieveServer, Refusal, Request, SieveEvent,
};
use postrider_store::sieve_scripts::ScriptRefusal;

use crate::agent::{Agent, Flow};
use crate::context::Context;
use crate::listener::ListenerKind;
use crate::login::sasl_login;

/// Most scripts one user may keep.
pub const MAX_SCRIPTS: usize = 100;

/// Largest script one user may store, in octets.
pub const MAX_SCRIPT_SIZE: u64 = 256 * 1024;

/// The core configuration for a ManageSieve session.
pub fn managesieve_config(ctx: &Context) -> ManageSieveConfig {
    let s = &ctx.settings();
    let mut c = ManageSieveConfig::default();
    c.hostname = s.config.hostname.clone();
    c.starttls = ctx.tls.is_available();
    c.allow_plaintext_auth = s.config.auth.allow_plaintext;
    c.max_auth_failures = s.config.auth.max_failures;
    c.auth_failure_delay = s.config.auth.failure_delay.get();
    c.max_script_size = MAX_SCRIPT_SIZE;
    c
}

/// Per-connection state of the runtime side.
#[derive(Debug)]
pub struct ManageSieveSession {
    ctx: Arc<Context>,
    peer: PeerInfo,
}

impl ManageSieveSession {
    /// The machine and agent of a new connection.
    pub fn start(
        ctx: &Arc<Context>,
        _kind: ListenerKind,
        peer: PeerInfo,
    ) -> (ManageSieveServer, Self) {
        let server = ManageSieveServer::new(managesieve_config(ctx), std::time::Instant::now());
        ctx.metrics.connection("managesieve");
        tracing::info!(
            "managesieve: connect from [{}]:{}",
            peer.remote.ip(),
            peer.remote.port()
        );
        (
            server,
            Self {
                ctx: ctx.clone(),
                peer,
            },
        )
    }

    /// Carries out `request` on `user`'s scripts.
    fn scripts(&self, user: &str, request: Request) -> Answer {
        let store = &self.ctx.sieve_scripts;
        let described = format!("{request:?}");
        let refused = |r: ScriptRefusal| {
            Answer::Refused(match r {
                ScriptRefusal::NoSuchScript => Refusal::NoSuchScript,
                ScriptRefusal::Active => Refusal::Active,
                ScriptRefusal::NameTaken => Refusal::NameTaken,
            })
        };
        let room_for = |name: &str| -> std::io::Result<bool> {
            let list = store.list(user)?;
            Ok(list.len() < MAX_SCRIPTS || list.iter().any(|s| s.name == name))
        };
        let result = match request {
            Request::List => store
                .list(user)
                .map(|l| Answer::Listing(l.into_iter().map(|s| (s.name, s.active)).collect())),
            Request::Get(name) => store.get(user, &name).map(|s| match s {
                Some(text) => Answer::Script(text),
                None => Answer::Refused(Refusal::NoSuchScript),
            }),
            Request::HaveSpace { name, .. } => room_for(&name).map(|room| {
                if room {
                    Answer::Done
                } else {
                    Answer::Refused(Refusal::TooManyScripts)
                }
            }),
            Request::Put { name, script } => room_for(&name).and_then(|room| {
                if !room {
                    return Ok(Answer::Refused(Refusal::TooManyScripts));
                }
                store.put(user, &name, &script).map(|()| {
                    tracing::info!(
                        "managesieve: {user}: stored script {name:?} ({} octets)",
                        script.len()
                    );
                    Answer::Done
                })
            }),
            Request::SetActive(name) => store
                .set_active(user, name.as_deref())
                .map(|r| r.map_or_else(refused, |()| Answer::Done)),
            Request::Delete(name) => store
                .delete(user, &name)
                .map(|r| r.map_or_else(refused, |()| Answer::Done)),
            Request::Rename { old, new } => store
                .rename(user, &old, &new)
                .map(|r| r.map_or_else(refused, |()| Answer::Done)),
        };
        result.unwrap_or_else(|e| {
            tracing::error!("managesieve: {user}: {described}: {e}");
            Answer::Failed(e.to_string())
        })
    }
}

impl Agent for ManageSieveSession {
    type Machine = ManageSieveServer;

    fn handle(&mut self, s: &mut ManageSieveServer, ev: SieveEvent) -> Flow {
        match ev {
            SieveEvent::StartTls => return Flow::StartTls,
            SieveEvent::Authenticate { token, credentials } => {
                let (outcome, hold) = sasl_login(
                    &self.ctx,
                    self.peer.remote.ip(),
                    "managesieve",
                    &credentials,
                );
                s.auth_result(token, outcome, hold);
            }
            SieveEvent::Scripts {
                token,
                user,
                request,
            } => {
                let answer = self.scripts(&user, request);
                s.answer(token, answer);
            }
            SieveEvent::Closed { reason } => {
                tracing::info!(
                    "managesieve: disconnect from [{}] ({reason:?})",
                    self.peer.remote.ip()
                );
                return Flow::Close;
            }
        }
        Flow::Continue
    }
}
