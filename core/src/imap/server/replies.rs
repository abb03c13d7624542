//! The store's answers: what each reply means for the command that asked, and the
//! selected mailbox's model kept in step with the store (EXPUNGE, EXISTS, RECENT, FLAGS).

use super::*;

impl ImapServer {
    /// Answers a login, at once or after `hold` (input waits meanwhile).
    pub(super) fn on_login(&mut self, tag: &str, outcome: AuthOutcome, hold: Duration) {
        let (text, delay, close) = match outcome {
            AuthOutcome::Success(_) => {
                self.state = State::Authenticated;
                let caps = self.capabilities();
                let text = tagged_line(tag, &format!("OK [CAPABILITY {caps}] Logged in"));
                (text, hold, false)
            }
            AuthOutcome::TemporaryFailure => (
                tagged_line(tag, "NO [UNAVAILABLE] Temporary authentication failure."),
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
                let text = tagged_line(tag, "NO [AUTHENTICATIONFAILED] Authentication failed.");
                (text, delay, close)
            }
        };
        if delay.is_zero() && !close {
            self.wire.output.extend_from_slice(text.as_bytes());
        } else {
            self.hold = Some(Hold {
                until: self.now + delay,
                then: Held { text, close },
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
                },
                StoreReply::View(r),
            ) => match r {
                Ok(view) => self.on_selected(&tag, name, read_only, view),
                Err(e) => self.no(&tag, &e),
            },
            (Then::Refresh { tag, text }, StoreReply::View(r)) => {
                if let Ok(view) = r {
                    self.apply_view(view);
                }
                if let Some(tag) = tag {
                    self.tagged(&tag, &text);
                }
            }
            (Then::List { tag, subscribed }, StoreReply::List(entries)) => {
                let kind = if subscribed { "LSUB" } else { "LIST" };
                for e in entries {
                    let mut line =
                        format!("* {kind} ({}) \"/\" ", e.attributes.join(" ")).into_bytes();
                    quote(&mut line, &e.name);
                    line.extend_from_slice(b"\r\n");
                    self.wire.output.extend_from_slice(&line);
                }
                self.tagged(
                    &tag,
                    &format!("OK {} completed.", if subscribed { "Lsub" } else { "List" }),
                );
            }
            (Then::Status { tag, name, items }, StoreReply::Status(r)) => match r {
                Ok(st) => self.on_status(&tag, &name, &items, &st),
                Err(e) => self.no(&tag, &e),
            },
            (Then::Done { tag, what }, StoreReply::Done(r)) => match r {
                Ok(()) => self.tagged(&tag, &format!("OK {what} completed.")),
                Err(e) => self.no(&tag, &e),
            },
            (Then::Append { tag, mailbox }, StoreReply::Appended(r)) => match r {
                Ok((v, uid)) => {
                    let text = format!("OK [APPENDUID {v} {uid}] Append completed.");
                    self.finish_with_news(tag, text, &mailbox);
                }
                Err(e) => self.no(&tag, &e),
            },
            (Then::Fetch { mut job, batch }, StoreReply::Messages(r)) => match r {
                Ok(msgs) => {
                    self.fetch_write(&mut job, &batch, Some(&msgs));
                    self.fetch_next(job);
                }
                Err(e) => self.no(&job.tag, &e),
            },
            (Then::SetFlags { tag, text }, StoreReply::Flags(r)) => match r {
                Ok(now) => {
                    if let Some(s) = self.selected.as_mut() {
                        for (u, flags) in now {
                            if let Some(m) = s.msgs.iter_mut().find(|m| m.uid == u) {
                                m.flags = flags;
                            }
                        }
                    }
                    self.tagged(&tag, &text);
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
                        self.tagged(&tag, "OK Close completed.");
                    } else {
                        self.remove_uids(&uids);
                        self.tagged(&tag, "OK Expunge completed.");
                    }
                }
                Err(e) => self.no(&tag, &e),
            },
            (Then::Copy { tag, is_move, to }, StoreReply::Copied(r)) => match r {
                Ok((v, pairs)) => self.on_copied(tag, is_move, &to, v, &pairs),
                Err(e) => self.no(&tag, &e),
            },
            (Then::Search { tag, uid, key }, StoreReply::Scanned(r)) => match r {
                Ok(facts) => self.search_respond(&tag, uid, &key, Some(&facts)),
                Err(e) => self.no(&tag, &e),
            },
            (then, _) => {
                // A reply of the wrong kind: a runtime bug; fail the command, keep going.
                let tag = match then {
                    Then::Login(t) => t,
                    Then::Append { tag, .. } => tag,
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
                    Then::Fetch { job, .. } => job.tag,
                };
                self.tagged(&tag, "NO [SERVERBUG] Internal error.");
            }
        }
    }

    /// STATUS answered: the untagged STATUS with the asked items, then OK.
    fn on_status(&mut self, tag: &str, name: &str, items: &[StatusItem], st: &StatusInfo) {
        let parts: Vec<String> = items
            .iter()
            .map(|i| match i {
                StatusItem::Messages => format!("MESSAGES {}", st.messages),
                StatusItem::Recent => format!("RECENT {}", st.recent),
                StatusItem::UidNext => format!("UIDNEXT {}", st.uid_next),
                StatusItem::UidValidity => format!("UIDVALIDITY {}", st.uid_validity),
                StatusItem::Unseen => format!("UNSEEN {}", st.unseen),
            })
            .collect();
        let mut line = b"* STATUS ".to_vec();
        quote(&mut line, name);
        line.extend_from_slice(format!(" ({})\r\n", parts.join(" ")).as_bytes());
        self.wire.output.extend_from_slice(&line);
        self.tagged(tag, "OK Status completed.");
    }

    /// COPY or MOVE done: COPYUID (RFC 4315), for MOVE the expunges (RFC 6851), then OK.
    fn on_copied(&mut self, tag: String, is_move: bool, to: &str, v: u32, pairs: &[(u32, u32)]) {
        let code = if pairs.is_empty() {
            String::new()
        } else {
            let src: Vec<String> = pairs.iter().map(|p| p.0.to_string()).collect();
            let dst: Vec<String> = pairs.iter().map(|p| p.1.to_string()).collect();
            format!("[COPYUID {v} {} {}] ", src.join(","), dst.join(","))
        };
        if is_move {
            if !code.is_empty() {
                self.untagged(&format!("OK {code}Moved UIDs."));
            }
            let uids: Vec<u32> = pairs.iter().map(|p| p.0).collect();
            self.remove_uids(&uids);
            self.finish_with_news(tag, "OK Move completed.".into(), to);
        } else {
            self.finish_with_news(tag, format!("OK {code}Copy completed."), to);
        }
    }

    /// SELECT / EXAMINE succeeded: the untagged data, then the model of the mailbox.
    fn on_selected(&mut self, tag: &str, name: String, read_only: bool, view: MailboxView) {
        let exists = view.messages.len();
        let mut keywords: Vec<String> = Vec::new();
        for f in view.messages.iter().flat_map(|m| &m.flags) {
            if !f.starts_with('\\') && !has_flag(&keywords, f) {
                keywords.push(f.clone());
            }
        }
        self.flags_lines(&keywords, read_only);
        self.untagged(&format!("{exists} EXISTS"));
        self.untagged(&format!("{} RECENT", view.recent.len()));
        if let Some(i) = view
            .messages
            .iter()
            .position(|m| !has_flag(&m.flags, "\\Seen"))
        {
            self.untagged(&format!("OK [UNSEEN {}] First unseen.", i + 1));
        }
        self.untagged(&format!(
            "OK [UIDVALIDITY {}] UIDs valid",
            view.uid_validity
        ));
        self.untagged(&format!(
            "OK [UIDNEXT {}] Predicted next UID",
            view.uid_next
        ));
        self.selected = Some(Selected {
            name,
            read_only,
            uid_validity: view.uid_validity,
            uid_next: view.uid_next,
            msgs: view.messages,
            recent: view.recent,
            keywords,
        });
        self.state = State::Selected;
        let mode = if read_only { "READ-ONLY" } else { "READ-WRITE" };
        let what = if read_only { "Examine" } else { "Select" };
        self.tagged(tag, &format!("OK [{mode}] {what} completed."));
    }

    /// STORE succeeded: the model takes the flags; FETCH responses unless .SILENT.
    fn on_stored(&mut self, tag: &str, uid: bool, silent: bool, now: Vec<(u32, Vec<String>)>) {
        self.announce_keywords(now.iter().flat_map(|(_, f)| f.iter()).cloned().collect());
        let mut out = Vec::new();
        if let Some(s) = self.selected.as_mut() {
            for (u, flags) in now {
                let Some(i) = s.msgs.iter().position(|m| m.uid == u) else {
                    continue;
                };
                s.msgs[i].flags = flags;
                if !silent {
                    let uid_part = if uid {
                        format!("UID {u} ")
                    } else {
                        String::new()
                    };
                    let shown = with_recent(&s.msgs[i].flags, s.recent.contains(&u));
                    out.push(format!(
                        "* {} FETCH ({uid_part}FLAGS {})\r\n",
                        i + 1,
                        flags_text(&shown)
                    ));
                }
            }
        }
        for line in out {
            self.wire.output.extend_from_slice(line.as_bytes());
        }
        self.tagged(tag, "OK Store completed.");
    }

    /// Ends a command that added messages to `mailbox`: when it is the selected one, the
    /// new messages are announced (EXISTS) before the tagged OK (RFC 3501 §6.3.11).
    pub(super) fn finish_with_news(&mut self, tag: String, text: String, mailbox: &str) {
        match self.selected.as_ref().map(|s| s.name.clone()) {
            Some(name) if name == mailbox => {
                let claim = self.selected.as_ref().is_some_and(|s| !s.read_only);
                self.ask(
                    Then::Refresh {
                        tag: Some(tag),
                        text,
                    },
                    StoreRequest::Refresh {
                        mailbox: name,
                        claim_recent: claim,
                    },
                );
            }
            _ => self.tagged(&tag, &text),
        }
    }

    /// Removes messages from the model, announcing each EXPUNGE.
    pub(super) fn remove_uids(&mut self, uids: &[u32]) {
        let Some(s) = self.selected.as_mut() else {
            return;
        };
        let mut lines = Vec::new();
        let mut i = 0;
        s.recent.retain(|u| !uids.contains(u));
        while i < s.msgs.len() {
            if uids.contains(&s.msgs[i].uid) {
                s.msgs.remove(i);
                lines.push(format!("* {} EXPUNGE\r\n", i + 1));
            } else {
                i += 1;
            }
        }
        for l in lines {
            self.wire.output.extend_from_slice(l.as_bytes());
        }
    }

    /// The FLAGS and PERMANENTFLAGS responses for the system flags and `keywords`.
    pub(super) fn flags_lines(&mut self, keywords: &[String], read_only: bool) {
        let mut all = SYSTEM_FLAGS.to_string();
        for k in keywords {
            all.push(' ');
            all.push_str(k);
        }
        self.untagged(&format!("FLAGS ({all})"));
        self.untagged(&format!(
            "OK [PERMANENTFLAGS ({})] Flags permitted.",
            if read_only {
                String::new()
            } else {
                format!("{all} \\*")
            }
        ));
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
            self.untagged("BYE The mailbox was recreated; please select it again.");
            self.close(CloseReason::Failed);
            return;
        }
        let current: std::collections::HashMap<u32, &MessageMeta> =
            view.messages.iter().map(|m| (m.uid, m)).collect();
        let mut lines = Vec::new();
        let mut i = 0;
        while i < s.msgs.len() {
            match current.get(&s.msgs[i].uid) {
                None => {
                    let gone = s.msgs.remove(i).uid;
                    s.recent.retain(|u| *u != gone);
                    lines.push(format!("* {} EXPUNGE\r\n", i + 1));
                }
                Some(m) => {
                    if m.flags != s.msgs[i].flags {
                        s.msgs[i].flags = m.flags.clone();
                        let shown = with_recent(&m.flags, s.recent.contains(&m.uid));
                        lines.push(format!(
                            "* {} FETCH (FLAGS {})\r\n",
                            i + 1,
                            flags_text(&shown)
                        ));
                    }
                    i += 1;
                }
            }
        }
        let max_uid = s.msgs.last().map_or(0, |m| m.uid);
        let before = s.msgs.len();
        for m in &view.messages {
            if m.uid > max_uid {
                s.msgs.push(m.clone());
            }
        }
        for u in &view.recent {
            if !s.recent.contains(u) {
                s.recent.push(*u);
            }
        }
        if s.msgs.len() != before {
            lines.push(format!(
                "* {} EXISTS\r\n* {} RECENT\r\n",
                s.msgs.len(),
                s.recent.len()
            ));
        }
        s.uid_next = view.uid_next.max(s.uid_next);
        for l in lines {
            self.wire.output.extend_from_slice(l.as_bytes());
        }
    }
}
