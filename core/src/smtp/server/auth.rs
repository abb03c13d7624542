//! SMTP AUTH (RFC 4954): the SASL exchange, the answer to the runtime's check (held for
//! the failure delay or a login penalty), and the limit on failures.

use super::*;

impl SmtpServer {
    /// Answers [`SmtpEvent::Auth`]. `hold` keeps the answer back, whatever it is (the
    /// runtime's penalty for recent failures from this client or against this account;
    /// `Duration::ZERO` for none); input waits meanwhile. A failure is answered 535 5.7.8
    /// after the longer of `hold` and a delay that grows with each failure of this
    /// session; after `max_auth_failures` failures the session ends with 421 4.7.0.
    pub fn auth_result(&mut self, token: Token, outcome: AuthOutcome, hold: Duration) {
        if self
            .take_pending(token, |p| matches!(p, Pending::Auth))
            .is_none()
        {
            return;
        }
        let answer = match outcome {
            AuthOutcome::Success(identity) => {
                self.authenticated = Some(identity);
                Reply::new(235, code(2, 7, 0), "Authentication successful")
            }
            AuthOutcome::TemporaryFailure => {
                Reply::new(454, code(4, 7, 0), "Temporary authentication failure")
            }
            AuthOutcome::Failure => {
                self.auth_failures = self.auth_failures.saturating_add(1);
                let mut replies = vec![Reply::new(
                    535,
                    code(5, 7, 8),
                    "Error: authentication failed",
                )];
                let close = if self.auth_failures >= self.config.max_auth_failures {
                    replies.push(Reply::new(
                        421,
                        code(4, 7, 0),
                        format!(
                            "{} Error: too many authentication failures",
                            self.config.hostname
                        ),
                    ));
                    Some(CloseReason::AuthFailures)
                } else {
                    None
                };
                let delay = crate::penalty::failed_login_delay(
                    self.config.auth_failure_delay,
                    self.auth_failures,
                    hold,
                );
                self.hold = Some(Hold {
                    until: self.now + delay,
                    then: Held { replies, close },
                });
                return;
            }
        };
        if hold.is_zero() {
            self.reply(&answer);
            self.process();
        } else {
            self.hold = Some(Hold {
                until: self.now + hold,
                then: Held {
                    replies: vec![answer],
                    close: None,
                },
            });
        }
    }

    /// Whether AUTH may be used now: offered on this listener and TLS active or allowed
    /// in plain text.
    pub(super) fn auth_available(&self) -> bool {
        self.config.auth && (self.tls_active() || self.config.allow_plaintext_auth)
    }

    pub(super) fn auth(&mut self, mechanism: &str, initial: Option<&str>) {
        if !self.config.auth {
            return self.error(Reply::new(
                503,
                code(5, 5, 1),
                "Error: authentication not enabled",
            ));
        }
        if !self.auth_available() {
            return self.reply(&Reply::new(
                530,
                code(5, 7, 0),
                "Must issue a STARTTLS command first",
            ));
        }
        if self.helo.is_none() {
            return self.error(Reply::new(
                503,
                code(5, 5, 1),
                "Error: send HELO/EHLO first",
            ));
        }
        if self.authenticated.is_some() {
            return self.error(Reply::new(
                503,
                code(5, 5, 1),
                "Error: already authenticated",
            ));
        }
        if self.tx.is_some() {
            return self.error(Reply::new(
                503,
                code(5, 5, 1),
                "Error: MAIL transaction in progress",
            ));
        }
        let Some(mech) = Mechanism::from_name(mechanism) else {
            return self.error(Reply::new(
                504,
                code(5, 5, 4),
                "Unsupported authentication mechanism",
            ));
        };
        let (ex, step) = SaslExchange::start(mech, initial.map(str::as_bytes));
        self.sasl = Some(ex);
        self.sasl_step(step);
    }

    /// Acts on the next step of the SASL exchange in progress.
    pub(super) fn sasl_step(&mut self, step: Step) {
        match step {
            Step::Challenge(c) => {
                self.phase = Phase::Auth;
                self.reply(&Reply::plain(334, c));
            }
            Step::Done(credentials) => {
                self.phase = Phase::Command;
                let mechanism = self
                    .sasl
                    .take()
                    .map(|ex| ex.mechanism())
                    .unwrap_or(Mechanism::Plain);
                let token = self.ask(Pending::Auth);
                self.wire.events.push_back(SmtpEvent::Auth {
                    token,
                    mechanism,
                    credentials,
                });
            }
            Step::Failed(e) => {
                self.abort_sasl();
                let reply = match e {
                    SaslError::Cancelled => {
                        Reply::new(501, code(5, 7, 0), "Authentication aborted")
                    }
                    SaslError::BadBase64 => {
                        Reply::new(501, code(5, 5, 2), "Cannot decode response")
                    }
                    SaslError::Malformed => {
                        Reply::new(501, code(5, 5, 2), "Invalid authentication data")
                    }
                };
                self.error(reply);
            }
        }
    }

    pub(super) fn abort_sasl(&mut self) {
        self.sasl = None;
        if self.phase == Phase::Auth {
            self.phase = Phase::Command;
        }
    }
}
