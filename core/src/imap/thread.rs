//! THREAD (RFC 5256 §3–§4): ORDEREDSUBJECT (messages grouped by base subject) and
//! REFERENCES (threads from Message-ID, References and In-Reply-To, then roots with the
//! same base subject gathered), written as the THREAD response's parenthesised lists.

use std::collections::HashMap;

use crate::imap::sort::base_subject;

/// A threading algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadAlgorithm {
    /// ORDEREDSUBJECT.
    OrderedSubject,
    /// REFERENCES.
    References,
}

impl ThreadAlgorithm {
    /// The algorithm named `word` (any case).
    pub fn from_name(word: &str) -> Option<Self> {
        match word.to_ascii_uppercase().as_str() {
            "ORDEREDSUBJECT" => Some(Self::OrderedSubject),
            "REFERENCES" => Some(Self::References),
            _ => None,
        }
    }
}

/// What threading knows of one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThreadFacts {
    /// The number written for it (sequence number or UID).
    pub number: u32,
    /// Its sequence number (ties in date are broken by it).
    pub seq: u32,
    /// Its sent date (see [`crate::imap::sort::sent_date`]).
    pub sent: i64,
    /// Its Subject field, raw.
    pub subject: String,
    /// Its Message-ID field, raw.
    pub message_id: String,
    /// Its References field, raw.
    pub references: String,
    /// Its In-Reply-To field, raw.
    pub in_reply_to: String,
}

/// The `<...>` message ids in a field value, in order.
fn msg_ids(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find('<') {
        let Some(len) = rest[start..].find('>') else {
            break;
        };
        let id: String = rest[start + 1..start + len]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if !id.is_empty() {
            out.push(id);
        }
        rest = &rest[start + len + 1..];
    }
    out
}

/// One container of the REFERENCES algorithm: a message or a dummy.
#[derive(Debug, Clone, Default)]
struct Node {
    msg: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

/// The threads of `msgs` by `algorithm`, as the THREAD response writes them (without
/// the leading `THREAD`): `(1 2)(3 (4)(5))`.
pub fn thread(msgs: &[ThreadFacts], algorithm: ThreadAlgorithm) -> String {
    let mut t = Threader {
        msgs,
        nodes: Vec::new(),
        subjects: msgs
            .iter()
            .map(|m| {
                let (s, reply) = base_subject(&m.subject);
                (s.to_lowercase(), reply)
            })
            .collect(),
    };
    let roots = match algorithm {
        ThreadAlgorithm::OrderedSubject => t.ordered_subject(),
        ThreadAlgorithm::References => t.references(),
    };
    let mut out = String::new();
    for r in roots {
        out.push('(');
        t.write(r, &mut out);
        out.push(')');
    }
    out
}

struct Threader<'a> {
    msgs: &'a [ThreadFacts],
    nodes: Vec<Node>,
    /// Each message's base subject (case folded) and whether it is a reply or forward.
    subjects: Vec<(String, bool)>,
}

impl Threader<'_> {
    fn node(&mut self, msg: Option<usize>) -> usize {
        self.nodes.push(Node {
            msg,
            ..Node::default()
        });
        self.nodes.len() - 1
    }

    fn unlink(&mut self, child: usize) {
        if let Some(p) = self.nodes[child].parent.take() {
            self.nodes[p].children.retain(|&c| c != child);
        }
    }

    fn link(&mut self, parent: usize, child: usize) {
        self.unlink(child);
        self.nodes[child].parent = Some(parent);
        self.nodes[parent].children.push(child);
    }

    /// Whether making `child` a child of `parent` would close a loop.
    fn would_loop(&self, parent: usize, child: usize) -> bool {
        let mut at = Some(parent);
        while let Some(n) = at {
            if n == child {
                return true;
            }
            at = self.nodes[n].parent;
        }
        false
    }

    /// The sent date of a container: its message's, or its first child's.
    fn date(&self, n: usize) -> (i64, u32) {
        match self.nodes[n].msg {
            Some(m) => (self.msgs[m].sent, self.msgs[m].seq),
            None => self.nodes[n]
                .children
                .first()
                .map_or((i64::MAX, u32::MAX), |&c| self.date(c)),
        }
    }

    /// Sorts every set of siblings under `list` by sent date (children first).
    fn sort_by_date(&mut self, list: &mut [usize]) {
        for &n in list.iter() {
            let mut children = std::mem::take(&mut self.nodes[n].children);
            self.sort_by_date(&mut children);
            self.nodes[n].children = children;
        }
        list.sort_by_key(|&n| self.date(n));
    }

    fn ordered_subject(&mut self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.msgs.len()).collect();
        order.sort_by(|&a, &b| {
            (&self.subjects[a].0, self.msgs[a].sent, self.msgs[a].seq).cmp(&(
                &self.subjects[b].0,
                self.msgs[b].sent,
                self.msgs[b].seq,
            ))
        });
        let mut roots: Vec<usize> = Vec::new();
        // The thread being filled: its root and the message that started it.
        let mut current: Option<(usize, usize)> = None;
        for m in order {
            let n = self.node(Some(m));
            match current {
                Some((root, first)) if self.subjects[first].0 == self.subjects[m].0 => {
                    self.link(root, n)
                }
                _ => {
                    roots.push(n);
                    current = Some((n, m));
                }
            }
        }
        roots.sort_by_key(|&n| self.date(n));
        roots
    }

    fn references(&mut self) -> Vec<usize> {
        let mut ids: HashMap<String, usize> = HashMap::new();
        for (i, m) in self.msgs.iter().enumerate() {
            // (1A) The message's container; a duplicate or missing id gets its own.
            let own = msg_ids(&m.message_id).into_iter().next();
            let node = match own.as_ref().and_then(|id| ids.get(id).copied()) {
                Some(n) if self.nodes[n].msg.is_none() => {
                    self.nodes[n].msg = Some(i);
                    n
                }
                Some(_) => self.node(Some(i)),
                None => {
                    let n = self.node(Some(i));
                    if let Some(id) = own {
                        ids.insert(id, n);
                    }
                    n
                }
            };
            // (1B) Link the references in order, never changing a link or closing a loop.
            let mut refs = msg_ids(&m.references);
            if refs.is_empty() {
                refs = msg_ids(&m.in_reply_to).into_iter().take(1).collect();
            }
            let mut prev: Option<usize> = None;
            for r in refs {
                let rn = match ids.get(&r) {
                    Some(&n) => n,
                    None => {
                        let n = self.node(None);
                        ids.insert(r, n);
                        n
                    }
                };
                if let Some(p) = prev {
                    if self.nodes[rn].parent.is_none() && !self.would_loop(p, rn) {
                        self.link(p, rn);
                    }
                }
                prev = Some(rn);
            }
            // (1C) The last reference is the parent.
            self.unlink(node);
            if let Some(p) = prev.filter(|&p| !self.would_loop(p, node)) {
                self.link(p, node);
            }
        }
        // (2) The roots, (4) without dummies.
        let roots: Vec<usize> = (0..self.nodes.len())
            .filter(|&n| self.nodes[n].parent.is_none())
            .collect();
        let roots = self.prune(roots, true);
        // (5) Roots with the same base subject gathered, (6) sorted by date.
        let mut roots = self.gather_subjects(roots);
        self.sort_by_date(&mut roots);
        roots
    }

    /// Step 4: dummies without children go; a dummy's children take its place, but at
    /// the root only when it has a single child.
    fn prune(&mut self, list: Vec<usize>, at_root: bool) -> Vec<usize> {
        let mut out = Vec::new();
        for n in list {
            let children = std::mem::take(&mut self.nodes[n].children);
            let children = self.prune(children, false);
            self.nodes[n].children = children.clone();
            if self.nodes[n].msg.is_some() || (at_root && children.len() > 1) {
                out.push(n);
                continue;
            }
            let parent = self.nodes[n].parent;
            for &c in &children {
                self.nodes[c].parent = parent;
            }
            self.nodes[n].children.clear();
            out.extend(children);
        }
        out
    }

    /// The base subject of a root (a dummy's: its first child's) and whether it is a
    /// reply.
    fn root_subject(&self, n: usize) -> (String, bool) {
        let msg = self.nodes[n].msg.or_else(|| {
            self.nodes[n]
                .children
                .first()
                .and_then(|&c| self.nodes[c].msg)
        });
        msg.map(|m| self.subjects[m].clone()).unwrap_or_default()
    }

    /// Step 5: roots whose messages share a base subject become one thread.
    fn gather_subjects(&mut self, roots: Vec<usize>) -> Vec<usize> {
        let dummy = |t: &Self, n: usize| t.nodes[n].msg.is_none();
        let mut table: HashMap<String, usize> = HashMap::new();
        for &r in &roots {
            let (subject, reply) = self.root_subject(r);
            if subject.is_empty() {
                continue;
            }
            let replace = match table.get(&subject) {
                None => true,
                Some(&t) => {
                    (dummy(self, r) && !dummy(self, t))
                        || (!dummy(self, t) && self.root_subject(t).1 && !dummy(self, r) && !reply)
                }
            };
            if replace {
                table.insert(subject, r);
            }
        }
        // A root a gathering made a child has a parent now; a root replaced by a new
        // dummy (both made its children) is found through `replaced`.
        let mut replaced: HashMap<usize, usize> = HashMap::new();
        for &r in &roots {
            let (subject, reply) = self.root_subject(r);
            let Some(&t) = table.get(&subject) else {
                continue;
            };
            if subject.is_empty() || t == r || self.nodes[r].parent.is_some() {
                continue;
            }
            let t_reply = self.root_subject(t).1;
            match (dummy(self, t), dummy(self, r)) {
                (true, true) => {
                    for c in std::mem::take(&mut self.nodes[r].children) {
                        self.nodes[c].parent = None;
                        self.link(t, c);
                    }
                }
                (true, false) => self.link(t, r),
                (false, true) => {
                    self.link(r, t);
                    table.insert(subject, r);
                }
                (false, false) if !t_reply && reply => self.link(t, r),
                (false, false) if t_reply && !reply => {
                    self.link(r, t);
                    table.insert(subject, r);
                }
                (false, false) => {
                    let d = self.node(None);
                    self.link(d, t);
                    self.link(d, r);
                    replaced.insert(t, d);
                    table.insert(subject, d);
                }
            }
        }
        roots
            .into_iter()
            .map(|r| replaced.get(&r).copied().unwrap_or(r))
            .filter(|&n| {
                let node = &self.nodes[n];
                node.parent.is_none() && (node.msg.is_some() || !node.children.is_empty())
            })
            .collect()
    }

    /// Writes container `n` and what hangs below it (inside its parentheses).
    fn write(&self, n: usize, out: &mut String) {
        let mut at = n;
        let mut first = true;
        loop {
            if let Some(m) = self.nodes[at].msg {
                if !first {
                    out.push(' ');
                }
                out.push_str(&self.msgs[m].number.to_string());
                first = false;
            }
            match self.nodes[at].children.as_slice() {
                [] => return,
                [only] if self.nodes[at].msg.is_some() => at = *only,
                children => {
                    if !first {
                        out.push(' ');
                    }
                    for &c in children {
                        out.push('(');
                        self.write(c, out);
                        out.push(')');
                    }
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(n: u32, sent: i64, subject: &str, id: &str, refs: &str) -> ThreadFacts {
        ThreadFacts {
            number: n,
            seq: n,
            sent,
            subject: subject.into(),
            message_id: id.into(),
            references: refs.into(),
            in_reply_to: String::new(),
        }
    }

    #[test]
    fn ordered_subject_groups_by_base_subject_then_date() {
        let msgs = [
            msg(1, 10, "b", "", ""),
            msg(2, 5, "Re: a", "", ""),
            msg(3, 20, "a", "", ""),
            msg(4, 30, "b", "", ""),
            msg(5, 1, "c", "", ""),
        ];
        assert_eq!(
            thread(&msgs, ThreadAlgorithm::OrderedSubject),
            "(5)(2 3)(1 4)"
        );
    }

    #[test]
    fn references_build_trees_and_gather_subjects() {
        let msgs = [
            msg(1, 1, "hello", "<a@x>", ""),
            msg(2, 2, "Re: hello", "<b@x>", "<a@x>"),
            msg(3, 3, "Re: hello", "<c@x>", "<a@x>"),
            msg(4, 4, "Re: hello", "<d@x>", "<a@x> <c@x>"),
            msg(5, 5, "other", "<e@x>", ""),
            // A reply whose parent is missing: the dummy goes, it joins by subject.
            msg(6, 6, "Re: other", "<f@x>", "<gone@x>"),
        ];
        assert_eq!(
            thread(&msgs, ThreadAlgorithm::References),
            "(1 (2)(3 4))(5 6)"
        );
        // A loop in References does not hang or lose messages.
        let looped = [
            msg(1, 1, "x", "<a@x>", "<b@x>"),
            msg(2, 2, "y", "<b@x>", "<a@x>"),
        ];
        let out = thread(&looped, ThreadAlgorithm::References);
        assert!(out.contains('1') && out.contains('2'), "{out}");
        // Two roots with one subject and no reply marker become siblings under a dummy.
        let same = [msg(1, 1, "z", "<p@x>", ""), msg(2, 2, "z", "<q@x>", "")];
        assert_eq!(thread(&same, ThreadAlgorithm::References), "((1)(2))");
    }
}
