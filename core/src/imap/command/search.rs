//! SEARCH (RFC 3501 §6.4.4) with ESEARCH's and SEARCHRES's `RETURN` options (RFC 4731,
//! RFC 5182), SORT with ESORT (RFC 5256, RFC 5267) and THREAD (RFC 5256): their
//! arguments, then the search keys they share.

use super::{Command, Cur, SearchKey, SearchReturn, BADCHARSET, R};
use crate::imap::sort::{SortCriterion, SortKey};
use crate::imap::thread::ThreadAlgorithm;

/// `RETURN (option ...)` after SEARCH or SORT, if there.
fn search_return(c: &mut Cur<'_>) -> R<Option<SearchReturn>> {
    if !c.word_ci("RETURN ") {
        return Ok(None);
    }
    let mut ret = SearchReturn::default();
    c.paren_list(true, |c| {
        let word = c.atom()?.to_ascii_uppercase();
        match word.as_str() {
            "MIN" => ret.min = true,
            "MAX" => ret.max = true,
            "COUNT" => ret.count = true,
            "ALL" => ret.all = true,
            "SAVE" => ret.save = true,
            _ => return Err(format!("unknown RETURN option {word:?}")),
        }
        Ok(())
    })?;
    if !(ret.min || ret.max || ret.count || ret.all || ret.save) {
        ret.all = true;
    }
    c.sp()?;
    Ok(Some(ret))
}

/// The charset (UTF-8 and US-ASCII only), then one or more search keys.
fn charset_and_keys(c: &mut Cur<'_>, charset_required: bool) -> R<SearchKey> {
    let named = if charset_required {
        true
    } else {
        c.word_ci("CHARSET ")
    };
    if named {
        let cs = c.astring()?;
        if !cs.eq_ignore_ascii_case("UTF-8") && !cs.eq_ignore_ascii_case("US-ASCII") {
            // Not echoed: a charset name may hold any octet, line ends included.
            return Err(format!("{BADCHARSET} Unsupported charset"));
        }
        c.sp()?;
    }
    let mut keys = vec![search_key(c, 0)?];
    while c.eat(b' ') {
        keys.push(search_key(c, 0)?);
    }
    Ok(if keys.len() == 1 {
        keys.remove(0)
    } else {
        SearchKey::And(keys)
    })
}

/// `SEARCH [RETURN (...)] [CHARSET x] key...`.
pub(super) fn search(c: &mut Cur<'_>, uid: bool) -> R<Command> {
    c.sp()?;
    let ret = search_return(c)?;
    let key = charset_and_keys(c, false)?;
    Ok(Command::Search { uid, key, ret })
}

/// `SORT [RETURN (...)] (criteria) charset key...`.
pub(super) fn sort(c: &mut Cur<'_>, uid: bool) -> R<Command> {
    c.sp()?;
    let ret = search_return(c)?;
    let mut criteria = Vec::new();
    let mut reverse = false;
    c.paren_list(false, |c| {
        let word = c.atom()?;
        if word.eq_ignore_ascii_case("REVERSE") {
            reverse = true;
        } else {
            let key = SortKey::from_name(&word)
                .ok_or_else(|| format!("unknown sort criterion {word:?}"))?;
            criteria.push(SortCriterion { key, reverse });
            reverse = false;
        }
        Ok(())
    })?;
    if reverse || criteria.is_empty() {
        return Err("REVERSE must come before a criterion".into());
    }
    c.sp()?;
    let key = charset_and_keys(c, true)?;
    Ok(Command::Sort {
        uid,
        criteria,
        key,
        ret,
    })
}

/// `THREAD algorithm charset key...`.
pub(super) fn thread(c: &mut Cur<'_>, uid: bool) -> R<Command> {
    c.sp()?;
    let name = c.atom()?;
    let algorithm = ThreadAlgorithm::from_name(&name)
        .ok_or_else(|| format!("unknown threading algorithm {name:?}"))?;
    c.sp()?;
    let key = charset_and_keys(c, true)?;
    Ok(Command::Thread {
        uid,
        algorithm,
        key,
    })
}

pub(super) fn search_key(c: &mut Cur<'_>, depth: usize) -> R<SearchKey> {
    use std::cmp::Ordering::*;
    if depth > 50 {
        return Err("search key nested too deep".into());
    }
    if c.eat(b'(') {
        let mut keys = Vec::new();
        loop {
            keys.push(search_key(c, depth + 1)?);
            if c.eat(b')') {
                return Ok(SearchKey::And(keys));
            }
            c.sp()?;
        }
    }
    if c.peek()
        .is_some_and(|x| x.is_ascii_digit() || x == b'*' || x == b'$')
    {
        return Ok(SearchKey::Seq(c.seq_set()?));
    }
    let word = c.atom()?.to_ascii_uppercase();
    let arg = |c: &mut Cur<'_>| -> R<String> {
        c.sp()?;
        Ok(String::from_utf8_lossy(&match c.peek() {
            Some(b'"') | Some(b'{') => c.string()?,
            _ => c.astring()?.into_bytes(),
        })
        .into_owned())
    };
    let flag = |f: &str| SearchKey::Flag(f.into());
    let noflag = |f: &str| SearchKey::NoFlag(f.into());
    Ok(match word.as_str() {
        "ALL" => SearchKey::All,
        "ANSWERED" => flag("\\Answered"),
        "DELETED" => flag("\\Deleted"),
        "DRAFT" => flag("\\Draft"),
        "FLAGGED" => flag("\\Flagged"),
        "SEEN" => flag("\\Seen"),
        "RECENT" => flag("\\Recent"),
        "UNANSWERED" => noflag("\\Answered"),
        "UNDELETED" => noflag("\\Deleted"),
        "UNDRAFT" => noflag("\\Draft"),
        "UNFLAGGED" => noflag("\\Flagged"),
        "UNSEEN" => noflag("\\Seen"),
        "NEW" => SearchKey::New,
        "OLD" => SearchKey::Old,
        "KEYWORD" => SearchKey::Flag({
            c.sp()?;
            c.atom()?
        }),
        "UNKEYWORD" => SearchKey::NoFlag({
            c.sp()?;
            c.atom()?
        }),
        "BCC" | "CC" | "FROM" | "SUBJECT" | "TO" => {
            let v = arg(c)?;
            SearchKey::Header(word.clone(), v)
        }
        "HEADER" => {
            let f = arg(c)?;
            let v = arg(c)?;
            SearchKey::Header(f, v)
        }
        "BODY" => SearchKey::Body(arg(c)?),
        "TEXT" => SearchKey::Text(arg(c)?),
        "BEFORE" | "ON" | "SINCE" | "SENTBEFORE" | "SENTON" | "SENTSINCE" => {
            c.sp()?;
            let d = c.date()?;
            let ord = match word.trim_start_matches("SENT") {
                "BEFORE" => Less,
                "ON" => Equal,
                _ => Greater,
            };
            if word.starts_with("SENT") {
                SearchKey::SentDate(ord, d)
            } else {
                SearchKey::InternalDate(ord, d)
            }
        }
        "LARGER" => {
            c.sp()?;
            SearchKey::Larger(c.number()?)
        }
        "SMALLER" => {
            c.sp()?;
            SearchKey::Smaller(c.number()?)
        }
        "UID" => {
            c.sp()?;
            SearchKey::Uid(c.seq_set()?)
        }
        "MODSEQ" => {
            c.sp()?;
            if c.peek() == Some(b'"') {
                // entry-name entry-type-req: "/flags/\\seen" all
                c.quoted()?;
                c.sp()?;
                let kind = c.atom()?.to_ascii_lowercase();
                if !["priv", "shared", "all"].contains(&kind.as_str()) {
                    return Err("MODSEQ entry type must be priv, shared or all".into());
                }
                c.sp()?;
            }
            let n = c.number()?;
            if n > i64::MAX as u64 {
                return Err("invalid mod-sequence".into());
            }
            SearchKey::ModSeq(n)
        }
        "NOT" => {
            c.sp()?;
            SearchKey::Not(Box::new(search_key(c, depth + 1)?))
        }
        "OR" => {
            c.sp()?;
            let a = search_key(c, depth + 1)?;
            c.sp()?;
            let b = search_key(c, depth + 1)?;
            SearchKey::Or(Box::new(a), Box::new(b))
        }
        _ => return Err(format!("unknown search key {word:?}")),
    })
}
