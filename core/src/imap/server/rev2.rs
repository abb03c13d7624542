//! IMAP4rev2 (RFC 9051) once a client sends `ENABLE IMAP4rev2`: mailbox names travel in
//! UTF-8 (the store keeps them in modified UTF-7, as IMAP4rev1 clients see them), SEARCH
//! answers ESEARCH, and `\Recent` with its RECENT responses is gone.

use super::*;
use crate::imap::command::SearchReturn;
use crate::imap::mutf7;

impl ImapServer {
    /// A mailbox name as the client writes it → as the store keeps it.
    pub(super) fn stored_name(&self, name: String) -> String {
        if self.rev2 && name != "INBOX" {
            mutf7::encode(&name)
        } else {
            name
        }
    }

    /// A stored mailbox name → as the client reads it.
    pub(super) fn shown_name(&self, name: &str) -> Value {
        if self.rev2 {
            let utf8 = mutf7::decode(name).unwrap_or_else(|| name.to_string());
            Value::utf8_string(&utf8)
        } else {
            Value::string(name.as_bytes())
        }
    }

    /// The command with its mailbox names as the store keeps them, and with IMAP4rev2 a
    /// SEARCH without RETURN made `RETURN (ALL)` (its answer is ESEARCH, RFC 9051 §6.4.4).
    pub(super) fn for_store(&self, cmd: Command) -> Command {
        if !self.rev2 {
            return cmd;
        }
        let n = |m: String| self.stored_name(m);
        match cmd {
            Command::Select {
                mailbox,
                read_only,
                params,
            } => Command::Select {
                mailbox: n(mailbox),
                read_only,
                params,
            },
            Command::Create(m) => Command::Create(n(m)),
            Command::CreateSpecialUse { mailbox, uses } => Command::CreateSpecialUse {
                mailbox: n(mailbox),
                uses,
            },
            Command::Delete(m) => Command::Delete(n(m)),
            Command::Rename(a, b) => Command::Rename(n(a), n(b)),
            Command::Subscribe(m) => Command::Subscribe(n(m)),
            Command::Unsubscribe(m) => Command::Unsubscribe(n(m)),
            Command::Status(m, items) => Command::Status(n(m), items),
            Command::GetQuotaRoot(m) => Command::GetQuotaRoot(n(m)),
            Command::Append { mailbox, messages } => Command::Append {
                mailbox: n(mailbox),
                messages,
            },
            Command::Copy {
                uid,
                set,
                mailbox,
                is_move,
            } => Command::Copy {
                uid,
                set,
                mailbox: n(mailbox),
                is_move,
            },
            Command::List {
                reference,
                pattern,
                subscribed,
            } => Command::List {
                reference: n(reference),
                pattern: n(pattern),
                subscribed,
            },
            Command::ListExtended {
                selection,
                reference,
                patterns,
                ret,
            } => Command::ListExtended {
                selection,
                reference: n(reference),
                patterns: patterns.into_iter().map(n).collect(),
                ret,
            },
            Command::Search {
                uid,
                key,
                ret: None,
            } => Command::Search {
                uid,
                key,
                ret: Some(SearchReturn {
                    all: true,
                    ..SearchReturn::default()
                }),
            },
            other => other,
        }
    }
}
