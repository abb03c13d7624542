//! The commands of the Selected state (CLOSE, UNSELECT, EXPUNGE, STORE, COPY, MOVE,
//! SEARCH, SORT, THREAD; FETCH is in `fetching.rs`, the searches in `query.rs`):
//! sequence sets resolved against the session's model (`$` first).

use super::*;

impl ImapServer {
    /// Runs a command that needs a selected mailbox (the state was checked).
    pub(super) fn dispatch_selected(&mut self, tag: String, cmd: Command) {
        use query::QueryKind;
        let cmd = self.with_saved_result(cmd);
        if let Command::Search { key, .. } | Command::Sort { key, .. } = &cmd {
            if crate::imap::search::mentions_modseq(key) {
                // A CONDSTORE-enabling command (RFC 7162 §3.1).
                self.enable_condstore();
            }
        }
        match cmd {
            Command::Close => self.close_mailbox(tag, true),
            Command::Unselect => self.close_mailbox(tag, false),
            Command::Expunge(set) => self.expunge(tag, set),
            Command::Fetch {
                uid,
                set,
                items,
                modifiers,
            } => self.fetch(tag, uid, set, items, modifiers),
            Command::Store {
                uid,
                set,
                mode,
                silent,
                flags,
                unchanged_since,
            } => self.store(
                tag,
                StoreArgs {
                    uid,
                    set,
                    mode,
                    silent,
                    flags,
                    unchanged_since,
                },
            ),

            Command::Copy {
                uid,
                set,
                mailbox,
                is_move,
            } => self.copy(tag, uid, set, mailbox, is_move),
            Command::Search { uid, key, ret } => self.query(tag, uid, key, QueryKind::Search(ret)),
            Command::Sort {
                uid,
                criteria,
                key,
                ret,
            } => self.query(tag, uid, key, QueryKind::Sort(criteria, ret)),
            Command::Thread {
                uid,
                algorithm,
                key,
            } => self.query(tag, uid, key, QueryKind::Thread(algorithm)),
            _ => self.bad(&tag, "Command not valid in this state."),
        }
    }

    /// CLOSE (expunging `\Deleted` messages first, unless read-only) or UNSELECT.
    fn close_mailbox(&mut self, tag: String, is_close: bool) {
        let sel = self.selected.as_ref();
        let deleted: Vec<u32> = match sel {
            Some(s) if !s.read_only && is_close => s
                .msgs
                .iter()
                .filter(|m| has_flag(&m.flags, "\\Deleted"))
                .map(|m| m.uid)
                .collect(),
            _ => Vec::new(),
        };
        if deleted.is_empty() {
            self.selected = None;
            self.state = State::Authenticated;
            let what = if is_close { "Close" } else { "Unselect" };
            self.ok(&tag, &format!("{what} completed."));
        } else {
            let name = sel.map(|s| s.name.clone()).unwrap_or_default();
            self.ask(
                Then::Expunge {
                    tag,
                    uids: deleted.clone(),
                    close: true,
                },
                StoreRequest::Expunge {
                    mailbox: name,
                    uids: deleted,
                },
            );
        }
    }

    /// EXPUNGE and UID EXPUNGE (`set`: the UIDs it is limited to).
    fn expunge(&mut self, tag: String, set: Option<SeqSet>) {
        let Some(s) = self.selected.as_ref() else {
            return;
        };
        if s.read_only {
            return self.tagged(&tag, read_only_mailbox());
        }
        let max_uid = s.msgs.last().map_or(0, |m| m.uid);
        let uids: Vec<u32> = s
            .msgs
            .iter()
            .filter(|m| has_flag(&m.flags, "\\Deleted"))
            .filter(|m| set.as_ref().is_none_or(|set| set.contains(m.uid, max_uid)))
            .map(|m| m.uid)
            .collect();
        if uids.is_empty() {
            return self.ok(&tag, "Expunge completed.");
        }
        let name = s.name.clone();
        self.ask(
            Then::Expunge {
                tag,
                uids: uids.clone(),
                close: false,
            },
            StoreRequest::Expunge {
                mailbox: name,
                uids,
            },
        );
    }

    /// STORE and UID STORE (with CONDSTORE's UNCHANGEDSINCE).
    fn store(&mut self, tag: String, a: StoreArgs) {
        if !a.uid && !self.valid_msgset(&a.set) {
            return self.bad(&tag, "Error in IMAP command STORE: Invalid messageset");
        }
        if a.unchanged_since.is_some() {
            self.enable_condstore();
        }
        let targets = self.resolve(&a.set, a.uid);
        let Some(s) = self.selected.as_mut() else {
            return;
        };
        if s.read_only {
            return self.tagged(&tag, read_only_mailbox());
        }
        let flags: Vec<String> = a.flags.into_iter().filter(|f| f != "\\Recent").collect();
        if targets.is_empty() {
            return self.ok(&tag, "Store completed.");
        }
        let name = s.name.clone();
        self.ask(
            Then::Store {
                tag,
                uid: a.uid,
                silent: a.silent,
            },
            StoreRequest::SetFlags {
                mailbox: name,
                uids: targets.iter().map(|t| t.1).collect(),
                mode: a.mode,
                flags,
                unchanged_since: a.unchanged_since,
            },
        );
    }

    /// COPY, MOVE and their UID forms.
    fn copy(&mut self, tag: String, uid: bool, set: SeqSet, mailbox: String, is_move: bool) {
        if !uid && !self.valid_msgset(&set) {
            let name = if is_move { "MOVE" } else { "COPY" };
            return self.bad(
                &tag,
                &format!("Error in IMAP command {name}: Invalid messageset"),
            );
        }
        let targets = self.resolve(&set, uid);
        let Some(s) = self.selected.as_ref() else {
            return;
        };
        if is_move && s.read_only {
            return self.tagged(&tag, read_only_mailbox());
        }
        if targets.is_empty() {
            let what = if is_move { "Move" } else { "Copy" };
            return self.ok(&tag, &format!("{what} completed."));
        }
        let name = s.name.clone();
        self.ask(
            Then::Copy {
                tag,
                is_move,
                to: mailbox.clone(),
            },
            StoreRequest::Copy {
                mailbox: name,
                uids: targets.iter().map(|t| t.1).collect(),
                to: mailbox,
                is_move,
            },
        );
    }

    /// Whether a sequence set names only messages that exist (as Dovecot: in an empty
    /// mailbox no set is valid; `*` is always valid otherwise); UID sets are never
    /// checked this way.
    pub(super) fn valid_msgset(&self, set: &SeqSet) -> bool {
        let n = self.selected.as_ref().map_or(0, |s| s.msgs.len() as u32);
        n > 0
            && set.0.iter().all(|&(a, b)| {
                [a, b]
                    .iter()
                    .all(|x| !matches!(x, SeqNum::Num(v) if *v > n))
            })
    }

    /// (sequence number, UID) of the messages a set names, in mailbox order.
    pub(super) fn resolve(&self, set: &SeqSet, uid: bool) -> Vec<(u32, u32)> {
        let Some(s) = self.selected.as_ref() else {
            return Vec::new();
        };
        let n = s.msgs.len() as u32;
        let max_uid = s.msgs.last().map_or(0, |m| m.uid);
        s.msgs
            .iter()
            .enumerate()
            .filter(|(i, m)| {
                if uid {
                    set.contains(m.uid, max_uid) || star_only_matches(set, m.uid, max_uid)
                } else {
                    set.contains(*i as u32 + 1, n)
                }
            })
            .map(|(i, m)| (i as u32 + 1, m.uid))
            .collect()
    }
}

/// A STORE's arguments.
struct StoreArgs {
    uid: bool,
    set: SeqSet,
    mode: StoreMode,
    silent: bool,
    flags: Vec<String>,
    unchanged_since: Option<u64>,
}

/// `UID FETCH n:*` where n is above every UID still matches the largest UID (RFC 3501
/// §6.4.8: `*` is the largest UID in use).
fn star_only_matches(set: &SeqSet, uid: u32, max_uid: u32) -> bool {
    uid == max_uid
        && set
            .0
            .iter()
            .any(|&(a, b)| matches!(a, SeqNum::Star) || matches!(b, SeqNum::Star))
}

/// The answer to a change in a mailbox selected with EXAMINE.
fn read_only_mailbox() -> StatusText {
    StatusText::no("Mailbox is read-only.").code("READ-ONLY")
}
