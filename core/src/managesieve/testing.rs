//! Test helper (feature `testing`): a driver that runs a [`ManageSieveServer`] against
//! scripted input with a virtual clock, one account (`alice`/`secret`) and an in-memory
//! script store, recording everything the server says.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::server::{Answer, ManageSieveConfig, ManageSieveServer, Refusal, Request, SieveEvent};
use crate::machine::{AuthOutcome, Machine, TlsInfo};

/// Runs a ManageSieve machine in memory and answers its events inline.
#[derive(Debug)]
pub struct ManageSieveTestDriver {
    /// The machine under test.
    pub server: ManageSieveServer,
    /// The virtual clock.
    pub now: Instant,
    /// Everything the server wrote, in order.
    pub transcript: Vec<u8>,
    /// Every event, in order.
    pub events: Vec<SieveEvent>,
    /// The stored scripts.
    pub scripts: BTreeMap<String, Vec<u8>>,
    /// The active script.
    pub active: Option<String>,
    /// Most scripts stored.
    pub max_scripts: usize,
    /// Whether a STARTTLS handshake is pending.
    pub tls_requested: bool,
}

impl ManageSieveTestDriver {
    /// A driver with `config`, starting at `now`.
    pub fn new(config: ManageSieveConfig, now: Instant) -> Self {
        let mut d = Self {
            server: ManageSieveServer::new(config, now),
            now,
            transcript: Vec::new(),
            events: Vec::new(),
            scripts: BTreeMap::new(),
            active: None,
            max_scripts: 5,
            tls_requested: false,
        };
        d.pump();
        d
    }

    /// Feeds client bytes and runs the machine until it is idle.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.server.handle_input(self.now, bytes);
        self.pump();
    }

    /// Advances the virtual clock and delivers a due timeout.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        if self.server.poll_timeout().is_some_and(|t| t <= self.now) {
            self.server.handle_timeout(self.now);
        }
        self.pump();
    }

    /// Completes a requested STARTTLS.
    pub fn finish_tls(&mut self) {
        self.tls_requested = false;
        self.server.tls_established(self.now, TlsInfo::default());
        self.pump();
    }

    /// What the server wrote, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.transcript).into_owned()
    }

    /// Drains transmits and events, answering questions, until nothing is left.
    pub fn pump(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(out) = self.server.poll_transmit() {
                self.transcript.extend_from_slice(&out);
                progressed = true;
            }
            while let Some(ev) = self.server.poll_event() {
                progressed = true;
                self.events.push(ev.clone());
                self.on_event(ev);
            }
            if !progressed {
                break;
            }
        }
    }

    fn on_event(&mut self, ev: SieveEvent) {
        match ev {
            SieveEvent::StartTls => self.tls_requested = true,
            SieveEvent::Authenticate { token, credentials } => {
                let ok =
                    credentials.username == "alice" && credentials.password.expose() == "secret";
                let outcome = if ok {
                    AuthOutcome::Success("alice".into())
                } else {
                    AuthOutcome::Failure
                };
                self.server.auth_result(token, outcome, Duration::ZERO);
            }
            SieveEvent::Scripts { token, request, .. } => {
                let answer = self.request(request);
                self.server.answer(token, answer);
            }
            SieveEvent::Closed { .. } => {}
        }
    }

    fn request(&mut self, request: Request) -> Answer {
        let refuse = |r| Answer::Refused(r);
        match request {
            Request::List => Answer::Listing(
                self.scripts
                    .keys()
                    .map(|n| (n.clone(), self.active.as_ref() == Some(n)))
                    .collect(),
            ),
            Request::Get(n) => match self.scripts.get(&n) {
                Some(s) => Answer::Script(s.clone()),
                None => refuse(Refusal::NoSuchScript),
            },
            Request::Put { name, script } => {
                if !self.scripts.contains_key(&name) && self.scripts.len() >= self.max_scripts {
                    return refuse(Refusal::TooManyScripts);
                }
                self.scripts.insert(name, script);
                Answer::Done
            }
            Request::HaveSpace { name, .. } => {
                if !self.scripts.contains_key(&name) && self.scripts.len() >= self.max_scripts {
                    refuse(Refusal::TooManyScripts)
                } else {
                    Answer::Done
                }
            }
            Request::SetActive(None) => {
                self.active = None;
                Answer::Done
            }
            Request::SetActive(Some(n)) if self.scripts.contains_key(&n) => {
                self.active = Some(n);
                Answer::Done
            }
            Request::SetActive(Some(_)) => refuse(Refusal::NoSuchScript),
            Request::Delete(n) if self.active.as_ref() == Some(&n) => refuse(Refusal::Active),
            Request::Delete(n) => match self.scripts.remove(&n) {
                Some(_) => Answer::Done,
                None => refuse(Refusal::NoSuchScript),
            },
            Request::Rename { old, new } => {
                if self.scripts.contains_key(&new) {
                    return refuse(Refusal::NameTaken);
                }
                let Some(s) = self.scripts.remove(&old) else {
                    return refuse(Refusal::NoSuchScript);
                };
                self.scripts.insert(new.clone(), s);
                if self.active.as_ref() == Some(&old) {
                    self.active = Some(new);
                }
                Answer::Done
            }
        }
    }
}
