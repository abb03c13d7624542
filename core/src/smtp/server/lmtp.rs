//! LMTP (RFC 2033): the same machine with LHLO in place of EHLO and HELO, and, once a
//! message has arrived, one reply for each recipient that RCPT accepted (§4.2), so the
//! MTA in front learns which deliveries failed.

use super::*;

impl SmtpServer {
    /// Answers [`SmtpEvent::MessageComplete`] in an LMTP session: `replies` holds one
    /// reply per recipient of the envelope, in order. Missing ones are sent as 451
    /// 4.3.0; extra ones are dropped.
    pub fn message_delivered(&mut self, token: Token, replies: Vec<Reply>) {
        if self
            .take_pending(token, |p| matches!(p, Pending::Queued))
            .is_none()
        {
            return;
        }
        let n = self.tx.take().map_or(1, |t| t.recipients.len());
        let missing = Reply::new(451, code(4, 3, 0), "Error: no delivery result");
        for i in 0..n {
            let reply = replies.get(i).unwrap_or(&missing);
            self.reply(reply);
        }
        if replies.iter().any(|r| r.code / 100 == 2) {
            self.messages = self.messages.saturating_add(1);
        }
        self.wire.events.push_back(SmtpEvent::Reset);
        self.process();
    }

    /// The 220 greeting.
    pub(super) fn greeting(&self) -> String {
        if self.config.lmtp {
            format!("{} LMTP postrider", self.config.hostname)
        } else {
            format!("{} ESMTP postrider", self.config.hostname)
        }
    }

    /// The reply that ends a message: in LMTP, one copy for each of the `recipients`
    /// (RFC 2033 §4.2: a message refused whole is refused for each recipient).
    pub(super) fn final_reply(&mut self, reply: &Reply, recipients: usize) {
        let copies = if self.config.lmtp {
            recipients.max(1)
        } else {
            1
        };
        for _ in 0..copies {
            self.reply(reply);
        }
    }

    /// How many recipients the transaction has (the copies of a final reply).
    pub(super) fn recipient_count(&self) -> usize {
        self.tx.as_ref().map_or(1, |t| t.recipients.len())
    }

    /// EHLO, HELO or LHLO: LMTP takes only LHLO, SMTP never takes it.
    pub(super) fn greet(&mut self, name: String, lhlo: bool, extended: bool) {
        match (self.config.lmtp, lhlo) {
            (true, true) | (false, false) => self.hello(name, extended),
            (true, false) => self.error(Reply::new(
                500,
                code(5, 5, 1),
                "Error: this is LMTP, greet with LHLO",
            )),
            (false, true) => self.error(Reply::new(
                500,
                code(5, 5, 2),
                "Error: command not recognized",
            )),
        }
    }

    /// The reply to DATA or BDAT when no recipient was accepted: 503 in LMTP (RFC 2033
    /// §4.2), 554 in SMTP as Postfix answers.
    pub(super) fn no_recipients(&self) -> Reply {
        let code_number = if self.config.lmtp { 503 } else { 554 };
        Reply::new(code_number, code(5, 5, 1), "Error: no valid recipients")
    }
}
