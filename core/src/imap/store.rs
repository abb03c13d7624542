//! What the IMAP machine asks of the mail store and what the store answers: the typed
//! requests and replies that cross between [`super::server::ImapServer`] and the runtime,
//! and the facts they carry (mailbox views, message metadata, contents, errors).

use std::time::Duration;

use bytes::Bytes;

use crate::imap::command::StoreMode;
use crate::imap::search::{ContentFacts, ContentScan};
use crate::imf::datetime::WallClock;
use crate::machine::AuthOutcome;
use crate::sasl::Credentials;

/// One message as the store lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMeta {
    /// Its UID.
    pub uid: u32,
    /// System flags and keywords.
    pub flags: Vec<String>,
    /// INTERNALDATE, with the zone it is shown in.
    pub internal_date: WallClock,
    /// RFC822.SIZE (CRLF line ends).
    pub size: u64,
    /// The MODSEQ of its last change (RFC 7162).
    pub modseq: u64,
}

/// A mailbox as the store sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxView {
    /// UIDVALIDITY.
    pub uid_validity: u32,
    /// UIDNEXT.
    pub uid_next: u32,
    /// HIGHESTMODSEQ (RFC 7162).
    pub highest_modseq: u64,
    /// The messages in order.
    pub messages: Vec<MessageMeta>,
    /// UIDs that are `\Recent` for this session (RFC 3501 §2.3.2): claimed by it.
    pub recent: Vec<u32>,
}

/// How much of each message a fetch needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchPart {
    /// The header section, up to and including the empty line that ends it. A store may
    /// return the whole message instead (e.g. when no empty line comes early).
    Header,
    /// The whole message.
    Full,
}

/// A message's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedMessage {
    /// Its UID.
    pub uid: u32,
    /// The message (or its header, for [`FetchPart::Header`]) with CRLF line ends.
    pub data: Bytes,
}

/// One LIST/LSUB answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// The mailbox name.
    pub name: String,
    /// Attributes such as `\HasNoChildren`, `\Noselect`, `\Sent`.
    pub attributes: Vec<String>,
}

/// STATUS facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusInfo {
    /// MESSAGES.
    pub messages: u32,
    /// RECENT.
    pub recent: u32,
    /// UIDNEXT.
    pub uid_next: u32,
    /// UIDVALIDITY.
    pub uid_validity: u32,
    /// UNSEEN.
    pub unseen: u32,
    /// SIZE (RFC 8438): the messages' RFC822.SIZE added up.
    pub size: u64,
    /// HIGHESTMODSEQ (RFC 7162).
    pub highest_modseq: u64,
    /// DELETED (RFC 9051): messages with `\Deleted`.
    pub deleted: u32,
}

/// What a STORE did (RFC 7162 §3.1.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagChanges {
    /// Each message the STORE applied to (changed or not): UID, its flags and MODSEQ
    /// afterwards.
    pub flags: Vec<(u32, Vec<String>, u64)>,
    /// UIDs left alone because their MODSEQ was above `UNCHANGEDSINCE`.
    pub modified: Vec<u32>,
}

/// A store refusal: an optional response code (`TRYCREATE`, `NONEXISTENT`,
/// `ALREADYEXISTS`, `CANNOT`, `SERVERBUG`) and text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{text}", code.as_ref().map(|c| format!("[{c}] ")).unwrap_or_default())]
pub struct StoreError {
    /// Response code without brackets.
    pub code: Option<String>,
    /// Text.
    pub text: String,
}

impl StoreError {
    /// A refusal with a code.
    pub fn new(code: Option<&str>, text: impl Into<String>) -> Self {
        Self {
            code: code.map(str::to_string),
            text: text.into(),
        }
    }
}

/// What the machine asks of the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreRequest {
    /// Check a login → [`StoreReply::Auth`].
    Login(Credentials),
    /// Open a mailbox → [`StoreReply::View`].
    Open {
        /// Mailbox.
        mailbox: String,
        /// SELECT (not EXAMINE): this session takes the `\Recent` messages.
        claim_recent: bool,
    },
    /// The current view of the selected mailbox → [`StoreReply::View`] (NOOP, CHECK, and
    /// after a command that added messages): every change committed before is in it.
    Refresh {
        /// Mailbox.
        mailbox: String,
        /// Take newly arrived messages as `\Recent` (read-write sessions).
        claim_recent: bool,
    },
    /// IDLE's periodic look at the selected mailbox → [`StoreReply::View`]: like Refresh,
    /// but the store may answer from what it knows has not changed (a change is seen
    /// within a poll or two).
    Poll {
        /// Mailbox.
        mailbox: String,
        /// Take newly arrived messages as `\Recent` (read-write sessions).
        claim_recent: bool,
    },
    /// LIST/LSUB → [`StoreReply::List`].
    List {
        /// Reference.
        reference: String,
        /// Pattern.
        pattern: String,
        /// LSUB.
        subscribed: bool,
    },
    /// STATUS → [`StoreReply::Status`].
    Status {
        /// Mailbox.
        mailbox: String,
    },
    /// CREATE → [`StoreReply::Done`].
    Create(String),
    /// CREATE with special-use attributes (RFC 6154; each one of
    /// [`crate::imap::list_ext::CREATABLE_USES`]) → [`StoreReply::Done`].
    CreateSpecialUse {
        /// Mailbox.
        mailbox: String,
        /// The attributes, spelt as in the list.
        uses: Vec<String>,
    },
    /// DELETE → [`StoreReply::Done`].
    Delete(String),
    /// RENAME → [`StoreReply::Done`].
    Rename(String, String),
    /// SUBSCRIBE (true) / UNSUBSCRIBE → [`StoreReply::Done`].
    Subscribe(String, bool),
    /// APPEND → [`StoreReply::Appended`].
    Append {
        /// Mailbox.
        mailbox: String,
        /// Flags.
        flags: Vec<String>,
        /// INTERNALDATE as given, with its zone (None: now).
        date: Option<WallClock>,
        /// The message as sent.
        message: Vec<u8>,
    },
    /// Message contents → [`StoreReply::Messages`]. A message missing from the reply has
    /// been expunged (by another session).
    Fetch {
        /// Mailbox.
        mailbox: String,
        /// UIDs.
        uids: Vec<u32>,
        /// The header only, or whole messages.
        part: FetchPart,
    },
    /// Open a message to stream `len` octets of it (CRLF line ends, as for Fetch) from
    /// octet `start` → [`StoreReply::Chunk`] with the first chunk. A large FETCH asks
    /// this instead of loading the message.
    Read {
        /// Mailbox.
        mailbox: String,
        /// The message.
        uid: u32,
        /// The first octet.
        start: u64,
        /// How many octets at most.
        len: u64,
    },
    /// The next chunk of the message the last `Read` opened → [`StoreReply::Chunk`].
    ReadMore,
    /// Answer a search's content questions → [`StoreReply::Scanned`]: feed each message
    /// (CRLF line ends, as for Fetch) through a copy of `scan`, in chunks, while it
    /// [wants more](ContentScan::wants_more). A message missing from the reply has been
    /// expunged.
    Scan {
        /// Mailbox.
        mailbox: String,
        /// UIDs.
        uids: Vec<u32>,
        /// A fresh scan, to be cloned for each message.
        scan: ContentScan,
    },
    /// Change flags relative to what the store has now (so that two sessions do not
    /// overwrite each other's changes) → [`StoreReply::Flags`].
    SetFlags {
        /// Mailbox.
        mailbox: String,
        /// UIDs.
        uids: Vec<u32>,
        /// Replace, add or remove.
        mode: StoreMode,
        /// The flags.
        flags: Vec<String>,
        /// `UNCHANGEDSINCE` (RFC 7162): leave alone, and report, each message whose
        /// MODSEQ is above it; the test and the change are one step.
        unchanged_since: Option<u64>,
    },
    /// The UIDs expunged from a mailbox after a MODSEQ (QRESYNC) →
    /// [`StoreReply::Vanished`]. A store that forgot some may answer more UIDs (ones
    /// expunged earlier), never fewer.
    Vanished {
        /// Mailbox.
        mailbox: String,
        /// The MODSEQ the client knew.
        since: u64,
    },
    /// Remove messages → [`StoreReply::Done`].
    Expunge {
        /// Mailbox.
        mailbox: String,
        /// UIDs.
        uids: Vec<u32>,
    },
    /// The account's storage used and its limit (QUOTA, RFC 9208) →
    /// [`StoreReply::Quota`].
    Quota,
    /// The subscribed names (extended LIST) → [`StoreReply::Subscriptions`].
    Subscriptions,
    /// COPY / MOVE → [`StoreReply::Copied`].
    Copy {
        /// Source mailbox.
        mailbox: String,
        /// UIDs to copy.
        uids: Vec<u32>,
        /// Destination.
        to: String,
        /// Remove from the source afterwards (MOVE).
        is_move: bool,
    },
}

/// The store's answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreReply {
    /// For Login: the outcome, and how long to keep the answer back whatever it is (the
    /// runtime's penalty for recent failures from this client or against this account;
    /// `Duration::ZERO` for none). A failure waits the longer of this and a delay that
    /// grows with each failure of the session.
    Auth(AuthOutcome, Duration),
    /// For Open and Refresh.
    View(Result<MailboxView, StoreError>),
    /// For List.
    List(Vec<ListEntry>),
    /// For Status.
    Status(Result<StatusInfo, StoreError>),
    /// For SetFlags.
    Flags(Result<FlagChanges, StoreError>),
    /// For Vanished: the UIDs, ascending.
    Vanished(Result<Vec<u32>, StoreError>),
    /// For Create, Delete, Rename, Subscribe, Expunge.
    Done(Result<(), StoreError>),
    /// For Append: (UIDVALIDITY, UID).
    Appended(Result<(u32, u32), StoreError>),
    /// For Fetch.
    Messages(Result<Vec<FetchedMessage>, StoreError>),
    /// For Read and ReadMore: the next octets, None at the end (an error or an end before
    /// `len` octets when the message went away).
    Chunk(Result<Option<Vec<u8>>, StoreError>),
    /// For Scan: each message's answers.
    Scanned(Result<Vec<(u32, ContentFacts)>, StoreError>),
    /// For Copy: (destination UIDVALIDITY, [(source UID, new UID)]).
    Copied(Result<(u32, Vec<(u32, u32)>), StoreError>),
    /// Octets used, and the limit if there is one.
    Quota(Result<(u64, Option<u64>), StoreError>),
    /// For Subscriptions: the names.
    Subscriptions(Vec<String>),
}

/// Applies a STORE to one message's flags: replaces them, or adds or removes `given`
/// (flags compare without regard to case; an added flag already there is not doubled).
pub fn apply_store(flags: &mut Vec<String>, mode: StoreMode, given: &[String]) {
    let has = |list: &[String], x: &str| list.iter().any(|y| y.eq_ignore_ascii_case(x));
    match mode {
        StoreMode::Replace => *flags = given.to_vec(),
        StoreMode::Add => {
            for x in given {
                if !has(flags, x) {
                    flags.push(x.clone());
                }
            }
        }
        StoreMode::Remove => flags.retain(|x| !has(given, x)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_modes_apply_without_regard_to_case() {
        let mut f = vec!["\\Seen".to_string()];
        apply_store(&mut f, StoreMode::Add, &["\\seen".into(), "$Work".into()]);
        assert_eq!(f, ["\\Seen", "$Work"]);
        apply_store(&mut f, StoreMode::Remove, &["\\SEEN".into()]);
        assert_eq!(f, ["$Work"]);
        apply_store(&mut f, StoreMode::Replace, &["\\Draft".into()]);
        assert_eq!(f, ["\\Draft"]);
    }

    #[test]
    fn store_errors_are_errors_that_show_their_code() {
        let e: Box<dyn std::error::Error> =
            Box::new(StoreError::new(Some("TRYCREATE"), "No such mailbox"));
        assert_eq!(e.to_string(), "[TRYCREATE] No such mailbox");
        assert_eq!(StoreError::new(None, "gone").to_string(), "gone");
    }
}
