//! The store's answers: what each reply means for the command that asked, and the
//! selected mailbox's model kept in step with the store (EXPUNGE, EXISTS, RECENT, FLAGS).

use super::*;
use crate::imap::response::encode_value;
use condstore::fetch_line;

impl ImapServer {
    /// Answers a login, at once or after `hold` (input waits meanwhile).
    pub(super) fn on_login(&mut self, tag: &str, outcome: AuthOutcome, hold: Duration) {
        let (status, delay, close) = match outcome {
            AuthOutcome::Success(_) => {
                self.state = State::Authenticated;
                let caps = self.capabilities();
                let status = StatusText::ok("Logged in").code(format!("CAPABILITY {caps}"));
                (status, hold, false)
            }
            AuthOutcome::TemporaryFailure => (
                StatusText::no("Temporary authentication failure.").code("UNAVAILABLE"),
                hold,
                false,
            ),
            AuthOutcome::Failure => {
                self.auth_failures += 1;
                let close = self.auth_failures >= self.config.max_auth_failures;
                let delay = crate::penalty::failed_login_delay(
                    self.config.auth_failure_delay,
                    self.auth_failures,
                    hold,
                );
                let status = StatusText::no("Authentication failed.").code("AUTHENTICATIONFAILED");
                (status, delay, close)
            }
        };
        if delay.is_zero() && !close {
            self.tagged(tag, status);
        } else {
            self.hold = Some(Hold {
                until: self.now + delay,
                then: Held {
                    tag: tag.to_string(),
                    status,
                    close,
                },
            });
        }
    }

    pub(super) fn on_reply(&mut self, then: Then, reply: StoreReply) {
        match (then, reply) {
            (Then::Login(tag), StoreReply::Auth(outcome, hold)) => {
                self.on_login(&tag, outcome, hold)
            }
            (
                Then::Select {
                    tag,
                    name,
                    read_only,
                    qresync,
                },
                StoreReply::View(r),
            ) => match r {
                Ok(view) => self.on_selected(&tag, name, read_only, qresync, view),
                Err(e) => self.no(&tag, &e),
            },
            (
                Then::Refresh {
                    tag,
                    status,
                    highest,
                },
                StoreReply::View(r),
            ) => {
                let mut status = status;
                if let Ok(view) = r {
                    if highest && self.condstore {
                        status = status.code(format!("HIGHESTMODSEQ {}", view.highest_modseq));
                    }
                    self.apply_view(view);
                }
                if let Some(tag) = tag {
                    self.tagged(&tag, status);
                }
            }
            (
                Then::Resync {
                    tag,
                    status,
                    qresync,
                },
                StoreReply::Vanished(r),
            ) => match r {
                Ok(uids) => self.on_resync(&tag, status, &qresync, &uids),
                Err(e) => self.no(&tag, &e),
            },
            (Then::FetchVanished(job), StoreReply::Vanished(r)) => match r {
                Ok(uids) => self.on_fetch_vanished(job, &uids),
                Err(e) => self.no(&job.tag, &e),
            },
            (Then::List { tag, subscribed }, StoreReply::List(entries)) => {
                let kind = if subscribed { "LSUB" } else { "LIST" };
                for e in entries {
                    let name = self.shown_name(&e.name);
                    self.untagged(vec![
                        Value::atom(kind),
                        Value::atoms(&e.attributes),
                        Value::string(b"/"),
                        name,
                    ]);
                }
                self.ok(
                    &tag,
                    if subscribed {
                        "Lsub completed."
                    } else {
                        "List completed."
                    },
                );
            }
            (Then::Status { tag, name, items }, StoreReply::Status(r)) => match r {
                Ok(st) => self.on_status(&tag, &name, &items, &st),
                Err(e) => self.no(&tag, &e),
            },
            (Then::Done { tag, what }, StoreReply::Done(r)) => match r {
                Ok(()) => self.ok(&tag, &format!("{what} completed.")),
                Err(e) => self.no(&tag, &e),
            },
            (Then::Append(job), StoreReply::Appended(r)) => self.append_next(job, Some(r)),
            (Then::Catenate(job, step), reply) => self.on_catenate(job, step, reply),
            (Then::AppendUndone { tag, error }, _) => self.no(&tag, &error),
            (Then::ListExtended(mut job), StoreReply::List(entries)) if job.folders.is_none() => {
                job.folders = Some(entries);
                self.ask(Then::ListExtended(job), StoreRequest::Subscriptions);
            }
            (Then::ListExtended(job), StoreReply::Subscriptions(subs)) => {
                self.on_list_extended(job, &subs)
            }
            (
                Then::ListStatus {
                    tag,
                    items,
                    lines,
                    current,
                },
                StoreReply::Status(r),
            ) => {
                if let Ok(st) = r {
                    self.status_line(&current, &items, &st);
                }
                self.list_status_next(tag, items, lines);
            }
            (Then::Quota { tag, root_of, root }, StoreReply::Quota(r)) => match r {
                Ok((used, limit)) => self.on_quota(&tag, root_of, &root, used, limit),
                Err(e) => self.no(&tag, &e),
            },
            (
                Then::Fetch {
                    job,
                    batch,
                    streaming,
                },
                StoreReply::Messages(r),
            ) => match r {
                Ok(msgs) => self.on_fetched(job, &batch, streaming, &msgs),
                Err(e) => self.no(&job.tag, &e),
            },
            (Then::Stream { job }, StoreReply::Chunk(r)) => self.on_chunk(job, r),
            (Then::Stream { .. }, _) => {
                // A wrong reply inside a literal: nothing more can be written.
                self.close(CloseReason::Failed);
            }
            (Then::SetFlags { tag, status }, StoreReply::Flags(r)) => match r {
                Ok(now) => {
                    // FETCH set `\Seen`: with CONDSTORE, the new MODSEQs are told.
                    let mut out = Vec::new();
                    if let Some(s) = self.selected.as_mut() {
                        for (u, flags, modseq) in now.flags {
                            if let Ok(i) = s.msgs.binary_search_by_key(&u, |m| m.uid) {
                                let shown = with_recent(&flags, s.recent.contains(&u));
                                if self.condstore {
                                    let uid = self.qresync.then_some(u);
                                    out.push(fetch_line(i + 1, uid, Some(&shown), Some(modseq)));
                                }
                                s.msgs[i].flags = flags;
                                s.msgs[i].modseq = modseq;
                            }
                        }
                    }
                    for r in out {
                        self.send(&r);
                    }
                    self.tagged(&tag, status);
                }
                Err(e) => self.no(&tag, &e),
            },
            (Then::Store { tag, uid, silent }, StoreReply::Flags(r)) => match r {
                Ok(now) => self.on_stored(&tag, uid, silent, now),
                Err(e) => self.no(&tag, &e),
            },
            (Then::Expunge { tag, uids, close }, StoreReply::Done(r)) => match r {
                Ok(()) => {
                    if close {
                        self.selected = None;
                        self.state = State::Authenticated;
                        self.ok(&tag, "Close completed.");
                    } else {
                        self.remove_uids(&uids);
                        self.expunge_done(tag);
                    }
                }
                Err(e) => self.no(&tag, &e),
            },
            (Then::Copy { tag, is_move, to }, StoreReply::Copied(r)) => match r {
                Ok((v, pairs)) => self.on_copied(tag, is_move, &to, v, &pairs),
                Err(e) => self.no(&tag, &e),
            },
            (
                Then::Search {
                    tag,
                    uid,
                    key,
                    kind,
                },
                StoreReply::Scanned(r),
            ) => match r {
                Ok(facts) => self.query_respond(&tag, uid, &key, &kind, Some(&facts)),
                Err(e) => self.no(&tag, &e),
            },
            (then, _) => {
                // A reply of the wrong kind: a runtime bug; fail the command, keep going.
                let tag = match then {
                    Then::Login(t) => t,
                    Then::Append(job) => job.tag,
                    Then::FetchVanished(job) => job.tag,
                    Then::Catenate(job, _) => job.tag(),
                    Then::Resync { tag, .. } => tag,
                    Then::AppendUndone { tag, .. }
                    | Then::Quota { tag, .. }
                    | Then::ListStatus { tag, .. } => tag,
                    Then::ListExtended(job) => job.tag,
                    Then::Select { tag, .. }
                    | Then::List { tag, .. }
                    | Then::Status { tag, .. }
                    | Then::Done { tag, .. }
                    | Then::SetFlags { tag, .. }
                    | Then::Store { tag, .. }
                    | Then::Expunge { tag, .. }
                    | Then::Copy { tag, .. }
                    | Then::Search { tag, .. } => tag,
                    Then::Refresh { tag, .. } => tag.unwrap_or_else(|| "*".into()),
                    Then::Fetch { job, .. } | Then::Stream { job } => job.tag,
                };
                self.tagged(&tag, StatusText::no("Internal error.").code("SERVERBUG"));
            }
        }
    }

    /// STATUS answered: the untagged STATUS with the asked items, then OK.
    fn on_status(&mut self, tag: &str, name: &str, items: &[StatusItem], st: &StatusInfo) {
        self.status_line(name, items, st);
        self.ok(tag, "Status completed.");
    }

    /// An extended LIST's lines, worked out from the folders and subscriptions; with
    /// RETURN (STATUS ...) each selectable folder's STATUS after its line.
    fn on_list_extended(&mut self, job: ListJob, subs: &[String]) {
        let folders = job.folders.unwrap_or_default();
        if job.patterns.iter().all(|p| p.is_empty()) {
            // `""` asks for the hierarchy delimiter, as in a plain LIST.
            self.untagged(vec![
                Value::atom("LIST"),
                Value::atoms(&["\\Noselect"]),
                Value::string(b"/"),
                Value::string(b""),
            ]);
            return self.ok(&job.tag, "List completed.");
        }
        let lines = crate::imap::list_ext::list_extended(
            &folders,
            subs,
            &job.reference,
            &job.patterns,
            job.selection,
            &job.ret,
        );
        let items = job.ret.status.clone().unwrap_or_default();
        self.list_status_next(job.tag, items, lines.into());
    }

    /// Writes the next lines of an extended LIST up to one that needs a STATUS (then asks
    /// for it), or all of them and OK.
    fn list_status_next(
        &mut self,
        tag: String,
        items: Vec<StatusItem>,
        mut lines: std::collections::VecDeque<crate::imap::list_ext::ListLine>,
    ) {
        while let Some(line) = lines.pop_front() {
            let mut values = vec![
                Value::atom("LIST"),
                Value::atoms(&line.attributes),
                Value::string(b"/"),
                self.shown_name(&line.name),
            ];
            if line.child_info {
                values.push(Value::List(vec![
                    Value::Quoted("CHILDINFO".into()),
                    Value::List(vec![Value::Quoted("SUBSCRIBED".into())]),
                ]));
            }
            self.untagged(values);
            if !items.is_empty() && line.selectable() {
                let mailbox = line.name.clone();
                return self.ask(
                    Then::ListStatus {
                        tag,
                        items,
                        lines,
                        current: line.name,
                    },
                    StoreRequest::Status { mailbox },
                );
            }
        }
        self.ok(&tag, "List completed.");
    }

    /// Writes `* STATUS name (item value ...)`.
    fn status_line(&mut self, name: &str, items: &[StatusItem], st: &StatusInfo) {
        let mut values = Vec::with_capacity(items.len() * 2);
        for i in items {
            let (name, n) = match i {
                StatusItem::Messages => ("MESSAGES", st.messages.into()),
                StatusItem::Recent => ("RECENT", st.recent.into()),
                StatusItem::UidNext => ("UIDNEXT", st.uid_next.into()),
                StatusItem::UidValidity => ("UIDVALIDITY", st.uid_validity.into()),
                StatusItem::Unseen => ("UNSEEN", st.unseen.into()),
                StatusItem::Size => ("SIZE", st.size),
                StatusItem::Deleted => ("DELETED", st.deleted.into()),
                StatusItem::HighestModSeq => ("HIGHESTMODSEQ", st.highest_modseq),
            };
            values.push(Value::atom(name));
            values.push(Value::Number(n));
        }
        let name = self.shown_name(name);
        self.untagged(vec![Value::atom("STATUS"), name, Value::List(values)]);
    }

    /// COPY or MOVE done: COPYUID (RFC 4315), for MOVE the expunges (RFC 6851), then OK.
    fn on_copied(&mut self, tag: String, is_move: bool, to: &str, v: u32, pairs: &[(u32, u32)]) {
        let code = (!pairs.is_empty()).then(|| {
            let src: Vec<String> = pairs.iter().map(|p| p.0.to_string()).collect();
            let dst: Vec<String> = pairs.iter().map(|p| p.1.to_string()).collect();
            format!("COPYUID {v} {} {}", src.join(","), dst.join(","))
        });
        let with_code = |status: StatusText| match &code {
            Some(c) => status.code(c.clone()),
            None => status,
        };
        if is_move {
            if code.is_some() {
                self.untagged_status(with_code(StatusText::ok("Moved UIDs.")));
            }
            let uids: Vec<u32> = pairs.iter().map(|p| p.0).collect();
            self.remove_uids(&uids);
            self.finish_with_news(tag, StatusText::ok("Move completed."), to);
        } else {
            self.finish_with_news(tag, with_code(StatusText::ok("Copy completed.")), to);
        }
    }

    /// SELECT / EXAMINE succeeded: the untagged data, then the model of the mailbox
    /// (and with QRESYNC for the same UIDVALIDITY, what changed since the client's
    /// MODSEQ before the tagged answer).
    fn on_selected(
        &mut self,
        tag: &str,
        name: String,
        read_only: bool,
        qresync: Option<crate::imap::command::Qresync>,
        view: MailboxView,
    ) {
        let exists = view.messages.len();
        let mut keywords: Vec<String> = Vec::new();
        for f in view.messages.iter().flat_map(|m| &m.flags) {
            if !f.starts_with('\\') && !has_flag(&keywords, f) {
                keywords.push(f.clone());
            }
        }
        self.flags_lines(&keywords, read_only);
        // IMAP4rev2 has no `\Recent` (RFC 9051 §2.3.2) and no UNSEEN code; it names the
        // mailbox in a LIST response instead.
        let recent = if self.rev2 { Vec::new() } else { view.recent };
        self.counts(exists, recent.len());
        let unseen = view
            .messages
            .iter()
            .position(|m| !has_flag(&m.flags, "\\Seen"));
        match unseen {
            _ if self.rev2 => {
                let shown = self.shown_name(&name);
                self.untagged(vec![
                    Value::atom("LIST"),
                    Value::List(Vec::new()),
                    Value::string(b"/"),
                    shown,
                ]);
            }
            Some(i) => self
                .untagged_status(StatusText::ok("First unseen.").code(format!("UNSEEN {}", i + 1))),
            None => {}
        }
        self.untagged_status(
            StatusText::ok("UIDs valid").code(format!("UIDVALIDITY {}", view.uid_validity)),
        );
        self.untagged_status(
            StatusText::ok("Predicted next UID").code(format!("UIDNEXT {}", view.uid_next)),
        );
        if self.condstore {
            self.untagged_status(condstore::highest_modseq(view.highest_modseq));
        }
        let resync = qresync.filter(|q| q.uid_validity == view.uid_validity);
        self.selected = Some(Selected {
            name,
            read_only,
            uid_validity: view.uid_validity,
            uid_next: view.uid_next,
            msgs: view.messages,
            recent,
            keywords,
            saved: Vec::new(),
            highest_modseq: view.highest_modseq,
        });
        self.state = State::Selected;
        let mode = if read_only { "READ-ONLY" } else { "READ-WRITE" };
        let what = if read_only { "Examine" } else { "Select" };
        let status = StatusText::ok(format!("{what} completed.")).code(mode);
        match resync {
            Some(q) => self.resync(tag.to_string(), status, q),
            None => self.tagged(tag, status),
        }
    }

    /// STORE succeeded: the model takes the flags (and MODSEQs); FETCH responses unless
    /// .SILENT (with CONDSTORE, a message whose MODSEQ changed is told even then, RFC
    /// 7162 §3.1.3); the messages UNCHANGEDSINCE left alone in `[MODIFIED ...]`.
    fn on_stored(&mut self, tag: &str, uid: bool, silent: bool, now: FlagChanges) {
        let all_flags = now.flags.iter().flat_map(|(_, f, _)| f.iter()).cloned();
        self.announce_keywords(all_flags.collect());
        let condstore = self.condstore;
        // With QRESYNC every FETCH response carries the UID (RFC 7162 §3.2.4).
        let with_uid = uid || self.qresync;
        let mut out = Vec::new();
        let mut modified = Vec::new();
        if let Some(s) = self.selected.as_mut() {
            for (u, flags, modseq) in now.flags {
                let Ok(i) = s.msgs.binary_search_by_key(&u, |m| m.uid) else {
                    continue;
                };
                let moved = s.msgs[i].modseq != modseq;
                s.msgs[i].flags = flags;
                s.msgs[i].modseq = modseq;
                let shown = with_recent(&s.msgs[i].flags, s.recent.contains(&u));
                let modseq = condstore.then_some(modseq);
                if !silent {
                    out.push(fetch_line(
                        i + 1,
                        with_uid.then_some(u),
                        Some(&shown),
                        modseq,
                    ));
                } else if condstore && moved {
                    out.push(fetch_line(i + 1, with_uid.then_some(u), None, modseq));
                }
            }
            let refused: std::collections::HashSet<u32> = now.modified.iter().copied().collect();
            for (i, m) in s.msgs.iter().enumerate() {
                if refused.contains(&m.uid) {
                    modified.push(if uid { m.uid } else { i as u32 + 1 });
                }
            }
        }
        for r in out {
            self.send(&r);
        }
        if modified.is_empty() {
            self.ok(tag, "Store completed.");
        } else {
            let set = crate::imap::seqset::SeqSet::from_numbers(&modified).to_wire();
            let status = StatusText::ok("Conditional store failed.");
            self.tagged(tag, status.code(format!("MODIFIED {set}")));
        }
    }

    /// EXPUNGE done: with CONDSTORE, the tagged answer tells HIGHESTMODSEQ, after a look
    /// at the store that announces every change before it (RFC 7162 §3.2.10).
    fn expunge_done(&mut self, tag: String) {
        let status = StatusText::ok("Expunge completed.");
        match self
            .selected
            .as_ref()
            .map(|s| (s.name.clone(), s.read_only))
        {
            Some((name, read_only)) if self.condstore => self.ask(
                Then::Refresh {
                    tag: Some(tag),
                    status,
                    highest: true,
                },
                StoreRequest::Refresh {
                    mailbox: name,
                    claim_recent: !read_only,
                },
            ),
            _ => self.tagged(&tag, status),
        }
    }

    /// Ends a command that added messages to `mailbox`: when it is the selected one, the
    /// new messages are announced (EXISTS) before the tagged OK (RFC 3501 §6.3.11).
    pub(super) fn finish_with_news(&mut self, tag: String, status: StatusText, mailbox: &str) {
        match self.selected.as_ref().map(|s| s.name.clone()) {
            Some(name) if name == mailbox => {
                let claim = self.selected.as_ref().is_some_and(|s| !s.read_only);
                self.ask(
                    Then::Refresh {
                        tag: Some(tag),
                        status,
                        highest: false,
                    },
                    StoreRequest::Refresh {
                        mailbox: name,
                        claim_recent: claim,
                    },
                );
            }
            _ => self.tagged(&tag, status),
        }
    }

    /// GETQUOTA / GETQUOTAROOT answered: the account has one quota root, `""`, holding
    /// every folder, with a STORAGE resource in units of 1024 octets when it has a limit.
    fn on_quota(
        &mut self,
        tag: &str,
        root_of: Option<String>,
        root: &str,
        used: u64,
        limit: Option<u64>,
    ) {
        if let Some(mailbox) = &root_of {
            let mut values = vec![Value::atom("QUOTAROOT"), self.shown_name(mailbox)];
            if limit.is_some() {
                values.push(Value::Quoted(String::new()));
            }
            self.untagged(values);
        } else if !root.is_empty() || limit.is_none() {
            let status = StatusText::no("No such quota root.");
            return self.tagged(tag, status.code("NONEXISTENT"));
        }
        if let Some(limit) = limit {
            self.untagged(vec![
                Value::atom("QUOTA"),
                Value::Quoted(String::new()),
                Value::List(vec![
                    Value::atom("STORAGE"),
                    Value::Number(used / 1024),
                    Value::Number(limit / 1024),
                ]),
            ]);
        }
        let what = if root_of.is_some() {
            "Getquotaroot"
        } else {
            "Getquota"
        };
        self.ok(tag, &format!("{what} completed."));
    }

    /// The next step of an APPEND, after the store added the previous message (`last`):
    /// the next message, or the answer with APPENDUID for all of them. When one fails,
    /// the ones added before it are removed again (MULTIAPPEND is all or nothing).
    pub(super) fn append_next(
        &mut self,
        mut job: AppendJob,
        last: Option<Result<(u32, u32), StoreError>>,
    ) {
        match last {
            Some(Ok((v, uid))) => {
                job.uid_validity = v;
                job.done.push(uid);
            }
            Some(Err(error)) if job.done.is_empty() => return self.no(&job.tag, &error),
            Some(Err(error)) => {
                let (tag, mailbox, uids) = (job.tag, job.mailbox, job.done);
                return self.ask(
                    Then::AppendUndone { tag, error },
                    StoreRequest::Expunge { mailbox, uids },
                );
            }
            None => {}
        }
        match job.queued.pop_front() {
            Some((flags, date, message)) => {
                let mailbox = job.mailbox.clone();
                self.ask(
                    Then::Append(job),
                    StoreRequest::Append {
                        mailbox,
                        flags,
                        date,
                        message,
                    },
                );
            }
            None => {
                let uids = crate::imap::seqset::SeqSet::from_numbers(&job.done).to_wire();
                let code = format!("APPENDUID {} {uids}", job.uid_validity);
                let status = StatusText::ok("Append completed.").code(code);
                self.finish_with_news(job.tag, status, &job.mailbox);
            }
        }
    }

    /// Removes messages from the model, announcing each EXPUNGE (one VANISHED with
    /// QRESYNC).
    pub(super) fn remove_uids(&mut self, uids: &[u32]) {
        let Some(s) = self.selected.as_mut() else {
            return;
        };
        let wanted: std::collections::HashSet<u32> = uids.iter().copied().collect();
        s.recent.retain(|u| !wanted.contains(u));
        let mut gone = Vec::new();
        let mut i = 0;
        s.msgs.retain(|m| {
            i += 1;
            if wanted.contains(&m.uid) {
                gone.push((i - gone.len(), m.uid));
                false
            } else {
                true
            }
        });
        self.announce_expunged(&gone);
    }

    /// `* n EXPUNGE` for each (sequence number at its removal, UID), or with QRESYNC one
    /// `* VANISHED uids`.
    fn announce_expunged(&mut self, gone: &[(usize, u32)]) {
        if self.qresync {
            let uids: Vec<u32> = gone.iter().map(|g| g.1).collect();
            return self.vanished(&uids, false);
        }
        for &(seq, _) in gone {
            self.send(&expunge(seq));
        }
    }

    /// The FLAGS and PERMANENTFLAGS responses for the system flags and `keywords`.
    pub(super) fn flags_lines(&mut self, keywords: &[String], read_only: bool) {
        let mut all: Vec<&str> = SYSTEM_FLAGS.to_vec();
        all.extend(keywords.iter().map(String::as_str));
        self.untagged(vec![Value::atom("FLAGS"), Value::atoms(&all)]);
        let mut permanent = Vec::new();
        if !read_only {
            all.push("\\*");
            encode_value(&mut permanent, &Value::atoms(&all));
        } else {
            permanent.extend_from_slice(b"()");
        }
        let code = format!("PERMANENTFLAGS {}", String::from_utf8_lossy(&permanent));
        self.untagged_status(StatusText::ok("Flags permitted.").code(code));
    }

    /// Sends new FLAGS and PERMANENTFLAGS responses when `flags` hold keywords the client
    /// has not been told about (before the FETCH responses that show them).
    pub(super) fn announce_keywords(&mut self, flags: Vec<String>) {
        let Some(s) = self.selected.as_mut() else {
            return;
        };
        let mut added = false;
        for f in flags {
            if !f.starts_with('\\') && !has_flag(&s.keywords, &f) {
                s.keywords.push(f);
                added = true;
            }
        }
        if added {
            let (keywords, read_only) = (s.keywords.clone(), s.read_only);
            self.flags_lines(&keywords, read_only);
        }
    }

    /// Announces the differences between the model and the store's view.
    pub(super) fn apply_view(&mut self, view: MailboxView) {
        self.announce_keywords(
            view.messages
                .iter()
                .flat_map(|m| m.flags.iter())
                .cloned()
                .collect(),
        );
        let Some(s) = self.selected.as_mut() else {
            return;
        };
        if view.uid_validity != s.uid_validity {
            self.untagged_status(StatusText::bye(
                "The mailbox was recreated; please select it again.",
            ));
            self.close(CloseReason::Failed);
            return;
        }
        let current: std::collections::HashMap<u32, &MessageMeta> =
            view.messages.iter().map(|m| (m.uid, m)).collect();
        let condstore = self.condstore;
        let mut gone = Vec::new();
        let mut news = Vec::new();
        let mut i = 0;
        while i < s.msgs.len() {
            match current.get(&s.msgs[i].uid) {
                None => {
                    let uid = s.msgs.remove(i).uid;
                    s.recent.retain(|u| *u != uid);
                    gone.push((i + 1, uid));
                }
                Some(m) => {
                    let moved = condstore && m.modseq != s.msgs[i].modseq;
                    if m.flags != s.msgs[i].flags || moved {
                        s.msgs[i].flags = m.flags.clone();
                        let shown = with_recent(&m.flags, s.recent.contains(&m.uid));
                        let modseq = condstore.then_some(m.modseq);
                        // With CONDSTORE the UID comes too (as Dovecot), so a client can
                        // file the MODSEQ without its sequence map.
                        let uid = condstore.then_some(m.uid);
                        news.push(fetch_line(i + 1, uid, Some(&shown), modseq));
                    }
                    s.msgs[i].modseq = m.modseq;
                    i += 1;
                }
            }
        }
        s.highest_modseq = view.highest_modseq;
        let max_uid = s.msgs.last().map_or(0, |m| m.uid);
        let before = s.msgs.len();
        for m in &view.messages {
            if m.uid > max_uid {
                s.msgs.push(m.clone());
            }
        }
        for u in view.recent.iter().filter(|_| !self.rev2) {
            if !s.recent.contains(u) {
                s.recent.push(*u);
            }
        }
        let counts = (s.msgs.len() != before).then_some((s.msgs.len(), s.recent.len()));
        s.uid_next = view.uid_next.max(s.uid_next);
        self.announce_expunged(&gone);
        for r in news {
            self.send(&r);
        }
        if let Some((exists, recent)) = counts {
            self.counts(exists, recent);
        }
    }

    /// `* n EXISTS` and `* n RECENT` (no RECENT with IMAP4rev2).
    fn counts(&mut self, exists: usize, recent: usize) {
        self.untagged(vec![Value::Number(exists as u64), Value::atom("EXISTS")]);
        if !self.rev2 {
            self.untagged(vec![Value::Number(recent as u64), Value::atom("RECENT")]);
        }
    }
}

/// `* n EXPUNGE`.
fn expunge(seq: usize) -> Response {
    Response::Untagged(vec![Value::Number(seq as u64), Value::atom("EXPUNGE")])
}
