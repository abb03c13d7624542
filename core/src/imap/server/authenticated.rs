//! The commands of the Authenticated state (RFC 3501 §6.3; those of the Selected state
//! are in `selected.rs`): NAMESPACE, SELECT/EXAMINE, folder management, LIST (plain and
//! extended), STATUS, APPEND (MULTIAPPEND), QUOTA, IDLE.

use super::*;

/// An APPEND under way: the messages still to add (flags, date, octets), the UIDs
/// added so far, and the folder's UIDVALIDITY.
#[derive(Debug)]
pub(super) struct AppendJob {
    pub(super) tag: String,
    pub(super) mailbox: String,
    pub(super) queued: std::collections::VecDeque<(
        Vec<String>,
        Option<crate::imf::datetime::WallClock>,
        Vec<u8>,
    )>,
    pub(super) done: Vec<u32>,
    pub(super) uid_validity: u32,
}

/// An extended LIST under way.
#[derive(Debug)]
pub(super) struct ListJob {
    pub(super) tag: String,
    pub(super) selection: crate::imap::command::ListSelection,
    pub(super) reference: String,
    pub(super) patterns: Vec<String>,
    pub(super) ret: crate::imap::command::ListReturn,
    /// Every folder, once the store answered.
    pub(super) folders: Option<Vec<ListEntry>>,
}

impl ImapServer {
    /// Commands of the authenticated and selected states (RFC 3501 §6.3, §6.4).
    pub(super) fn dispatch_authenticated(&mut self, tag: String, cmd: Command) {
        let state = self.state;
        let done = |what: &'static str| Then::Done {
            tag: tag.clone(),
            what,
        };
        match cmd {
            Command::Namespace => {
                let personal = Value::List(vec![Value::string(b""), Value::string(b"/")]);
                self.untagged(vec![
                    Value::atom("NAMESPACE"),
                    Value::List(vec![personal]),
                    Value::Nil,
                    Value::Nil,
                ]);
                self.ok(&tag, "Namespace completed.");
            }
            Command::Select {
                mailbox,
                read_only,
                params,
            } => {
                if params.qresync.is_some() && !self.qresync {
                    return self.bad(&tag, "QRESYNC must be enabled first.");
                }
                if self.selected.take().is_some() {
                    // RFC 7162 §3.2.11: the old mailbox's responses end here.
                    self.untagged_status(StatusText::ok("Previous mailbox closed.").code("CLOSED"));
                }
                self.state = State::Authenticated;
                if params.condstore {
                    self.enable_condstore();
                }
                self.ask(
                    Then::Select {
                        tag,
                        name: mailbox.clone(),
                        read_only,
                        qresync: params.qresync,
                    },
                    StoreRequest::Open {
                        mailbox,
                        claim_recent: !read_only,
                    },
                );
            }
            Command::Create(m) => self.ask(done("Create"), StoreRequest::Create(m)),
            Command::CreateSpecialUse { mailbox, uses } => {
                let known = |u: &String| {
                    crate::imap::list_ext::CREATABLE_USES
                        .iter()
                        .find(|k| k.eq_ignore_ascii_case(u))
                };
                let Some(uses) = uses.iter().map(known).collect::<Option<Vec<_>>>() else {
                    let status = StatusText::no("Unsupported special-use attribute.");
                    return self.tagged(&tag, status.code("USEATTR"));
                };
                let uses = uses.into_iter().map(|u| u.to_string()).collect();
                self.ask(
                    done("Create"),
                    StoreRequest::CreateSpecialUse { mailbox, uses },
                )
            }
            Command::Delete(m) => self.ask(done("Delete"), StoreRequest::Delete(m)),
            Command::Rename(a, b) => self.ask(done("Rename"), StoreRequest::Rename(a, b)),
            Command::Subscribe(m) => self.ask(done("Subscribe"), StoreRequest::Subscribe(m, true)),
            Command::Unsubscribe(m) => {
                self.ask(done("Unsubscribe"), StoreRequest::Subscribe(m, false))
            }
            Command::List {
                reference,
                pattern,
                subscribed,
            } => {
                if pattern.is_empty() && !subscribed {
                    self.untagged(vec![
                        Value::atom("LIST"),
                        Value::atoms(&["\\Noselect"]),
                        Value::string(b"/"),
                        Value::string(b""),
                    ]);
                    return self.ok(&tag, "List completed.");
                }
                self.ask(
                    Then::List { tag, subscribed },
                    StoreRequest::List {
                        reference,
                        pattern,
                        subscribed,
                    },
                );
            }
            Command::ListExtended {
                selection,
                reference,
                patterns,
                ret,
            } => self.ask(
                Then::ListExtended(ListJob {
                    tag,
                    selection,
                    reference,
                    patterns,
                    ret,
                    folders: None,
                }),
                StoreRequest::List {
                    reference: String::new(),
                    pattern: "*".into(),
                    subscribed: false,
                },
            ),
            Command::Status(m, items) => {
                if items.contains(&StatusItem::HighestModSeq) {
                    self.enable_condstore();
                }
                self.ask(
                    Then::Status {
                        tag,
                        name: m.clone(),
                        items,
                    },
                    StoreRequest::Status { mailbox: m },
                )
            }
            Command::Append { mailbox, messages } => {
                let mut queued = std::collections::VecDeque::new();
                let mut pieces = std::collections::VecDeque::new();
                let catenates = messages.iter().any(|m| m.catenate.is_some());
                for m in messages {
                    let date = match m.date {
                        Some(d) => match parse_datetime(&d) {
                            Some(t) => Some(t),
                            None => return self.bad(&tag, "Invalid date-time."),
                        },
                        None => None,
                    };
                    let flags: Vec<String> =
                        m.flags.into_iter().filter(|f| f != "\\Recent").collect();
                    if catenates {
                        use crate::imap::catenate::CatenatePart;
                        let parts = m
                            .catenate
                            .unwrap_or_else(|| vec![CatenatePart::Text(m.message)]);
                        pieces.push_back((flags, date, parts));
                        continue;
                    }
                    // Raw binary parts are kept base64-encoded (RFC 3516 §4.4).
                    let message = match m.binary {
                        true => crate::imap::binary::encode_binary_parts(&m.message)
                            .unwrap_or(m.message),
                        false => m.message,
                    };
                    queued.push_back((flags, date, message));
                }
                let job = AppendJob {
                    tag,
                    mailbox,
                    queued,
                    done: Vec::new(),
                    uid_validity: 0,
                };
                if catenates {
                    self.catenate(job, pieces);
                } else {
                    self.append_next(job, None);
                }
            }
            Command::GetQuota(root) => self.ask(
                Then::Quota {
                    tag,
                    root_of: None,
                    root,
                },
                StoreRequest::Quota,
            ),
            Command::GetQuotaRoot(mailbox) => self.ask(
                Then::Quota {
                    tag,
                    root_of: Some(mailbox),
                    root: String::new(),
                },
                StoreRequest::Quota,
            ),
            Command::SetQuota(..) => {
                let status = StatusText::no("Limits are set by the administrator.");
                self.tagged(&tag, status.code("NOPERM"))
            }
            Command::Idle => {
                self.continuation("idling");
                self.idle_tag = Some(tag);
                self.idle_next = self.now + self.config.idle_poll;
            }
            _ if state != State::Selected => self.bad(&tag, "No mailbox selected."),
            cmd => self.dispatch_selected(tag, cmd),
        }
    }
}
