//! LIST and LSUB arguments, with LIST-EXTENDED's selection options, pattern lists and
//! return options (RFC 5258, RFC 5819 STATUS, RFC 6154 SPECIAL-USE). A LIST without any
//! of them stays the plain RFC 3501 command.

use super::{status_items, Command, Cur, StatusItem, R};

/// The selection options of an extended LIST.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListSelection {
    /// SUBSCRIBED: the subscribed names (existing or not).
    pub subscribed: bool,
    /// RECURSIVEMATCH: also a parent whose descendant matches the selection but not the
    /// patterns, with CHILDINFO.
    pub recursive_match: bool,
    /// SPECIAL-USE: only folders with a special-use attribute (RFC 6154).
    pub special_use: bool,
}

/// The return options of an extended LIST.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListReturn {
    /// SUBSCRIBED: `\Subscribed` on the subscribed names.
    pub subscribed: bool,
    /// CHILDREN: `\HasChildren` / `\HasNoChildren` (always given here).
    pub children: bool,
    /// SPECIAL-USE: the special-use attributes (always given here).
    pub special_use: bool,
    /// STATUS (items): a STATUS response after each selectable folder (RFC 5819).
    pub status: Option<Vec<StatusItem>>,
}

/// `LIST [(selection)] reference pattern|(patterns) [RETURN (options)]`, or LSUB.
pub(super) fn list(c: &mut Cur<'_>, lsub: bool) -> R<Command> {
    c.sp()?;
    let selection = if !lsub && c.peek() == Some(b'(') {
        let s = selection(c)?;
        c.sp()?;
        Some(s)
    } else {
        None
    };
    let reference = c.astring().or_else(|_| {
        // An empty quoted string is the usual reference.
        Ok::<String, String>(String::new())
    })?;
    c.sp()?;
    let mut patterns = Vec::new();
    let listed = !lsub && c.eat(b'(');
    if listed {
        loop {
            patterns.push(c.list_mailbox()?);
            if c.eat(b')') {
                break;
            }
            c.sp()?;
        }
    } else {
        patterns.push(c.list_mailbox()?);
    }
    let ret = if !lsub && c.word_ci(" RETURN ") {
        Some(return_options(c)?)
    } else {
        None
    };
    if selection.is_none() && ret.is_none() && !listed {
        return Ok(Command::List {
            reference,
            pattern: patterns.remove(0),
            subscribed: lsub,
        });
    }
    Ok(Command::ListExtended {
        selection: selection.unwrap_or_default(),
        reference,
        patterns,
        ret: ret.unwrap_or_default(),
    })
}

fn selection(c: &mut Cur<'_>) -> R<ListSelection> {
    let mut s = ListSelection::default();
    // REMOTE changes nothing: every folder here is local.
    c.paren_list(true, |c| {
        let word = c.atom()?.to_ascii_uppercase();
        match word.as_str() {
            "SUBSCRIBED" => s.subscribed = true,
            "REMOTE" => {}
            "RECURSIVEMATCH" => s.recursive_match = true,
            "SPECIAL-USE" => s.special_use = true,
            _ => return Err(format!("unknown LIST selection option {word:?}")),
        }
        Ok(())
    })?;
    if s.recursive_match && !s.subscribed && !s.special_use {
        return Err("RECURSIVEMATCH needs another selection option".into());
    }
    Ok(s)
}

fn return_options(c: &mut Cur<'_>) -> R<ListReturn> {
    let mut r = ListReturn::default();
    c.paren_list(true, |c| {
        let word = c.atom()?.to_ascii_uppercase();
        match word.as_str() {
            "SUBSCRIBED" => r.subscribed = true,
            "CHILDREN" => r.children = true,
            "SPECIAL-USE" => r.special_use = true,
            "STATUS" => {
                c.sp()?;
                r.status = Some(status_items(c)?);
            }
            _ => return Err(format!("unknown LIST return option {word:?}")),
        }
        Ok(())
    })?;
    Ok(r)
}
