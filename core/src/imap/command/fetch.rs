//! FETCH's arguments (RFC 3501 §6.4.5, RFC 3516 BINARY): the items, section specifiers
//! and partials.

use super::{Command, Cur, FetchAttr, Section, SectionText, R};

pub(super) fn fetch(c: &mut Cur<'_>, uid: bool) -> R<Command> {
    c.sp()?;
    let set = c.seq_set()?;
    c.sp()?;
    let mut items = Vec::new();
    if c.eat(b'(') {
        loop {
            fetch_attr(c, &mut items)?;
            if c.eat(b')') {
                break;
            }
            c.sp()?;
        }
    } else {
        fetch_attr(c, &mut items)?;
    }
    let modifiers = super::condstore::fetch_modifiers(c)?;
    Ok(Command::Fetch {
        uid,
        set,
        items,
        modifiers,
    })
}

pub(super) fn section(c: &mut Cur<'_>) -> R<Section> {
    // After `[`.
    let mut path = Vec::new();
    loop {
        if c.peek().is_some_and(|x| x.is_ascii_digit()) {
            let n = c.number()?;
            if n == 0 || n > u32::MAX as u64 {
                return Err("invalid part number".into());
            }
            path.push(n as u32);
            if !c.eat(b'.') {
                break;
            }
        } else {
            break;
        }
    }
    let text = if c.peek() == Some(b']') {
        SectionText::Full
    } else if c.word_ci("HEADER.FIELDS.NOT") || c.word_ci("HEADER.FIELDS") {
        let not = c.b[..c.i].ends_with(b".NOT") || c.b[..c.i].ends_with(b".not");
        c.sp()?;
        if !c.eat(b'(') {
            return Err("expected a field list".into());
        }
        let mut fields = Vec::new();
        loop {
            let name = c.astring()?;
            // A header field name is printable ASCII without ':' (RFC 5322 ftext).
            if name.is_empty() || !name.bytes().all(|b| (33..=126).contains(&b) && b != b':') {
                return Err("invalid header field name".into());
            }
            fields.push(name);
            if c.eat(b')') {
                break;
            }
            c.sp()?;
        }
        if not {
            SectionText::HeaderFieldsNot(fields)
        } else {
            SectionText::HeaderFields(fields)
        }
    } else if c.word_ci("HEADER") {
        SectionText::Header
    } else if c.word_ci("TEXT") {
        SectionText::Text
    } else if c.word_ci("MIME") {
        if path.is_empty() {
            return Err("MIME needs a part number".into());
        }
        SectionText::Mime
    } else {
        return Err("unknown section".into());
    };
    if !c.eat(b']') {
        return Err("expected ]".into());
    }
    Ok(Section { part: path, text })
}

fn fetch_attr(c: &mut Cur<'_>, out: &mut Vec<FetchAttr>) -> R<()> {
    let name = {
        let s = c.i;
        while c
            .peek()
            .is_some_and(|x| x.is_ascii_alphanumeric() || x == b'.')
        {
            c.i += 1;
        }
        String::from_utf8_lossy(&c.b[s..c.i]).to_ascii_uppercase()
    };
    match name.as_str() {
        "ALL" => out.extend([
            FetchAttr::Flags,
            FetchAttr::InternalDate,
            FetchAttr::Rfc822Size,
            FetchAttr::Envelope,
        ]),
        "FAST" => out.extend([
            FetchAttr::Flags,
            FetchAttr::InternalDate,
            FetchAttr::Rfc822Size,
        ]),
        "FULL" => out.extend([
            FetchAttr::Flags,
            FetchAttr::InternalDate,
            FetchAttr::Rfc822Size,
            FetchAttr::Envelope,
            FetchAttr::Body,
        ]),
        "FLAGS" => out.push(FetchAttr::Flags),
        "INTERNALDATE" => out.push(FetchAttr::InternalDate),
        "RFC822" => out.push(FetchAttr::Rfc822),
        "RFC822.HEADER" => out.push(FetchAttr::Rfc822Header),
        "RFC822.SIZE" => out.push(FetchAttr::Rfc822Size),
        "RFC822.TEXT" => out.push(FetchAttr::Rfc822Text),
        "ENVELOPE" => out.push(FetchAttr::Envelope),
        "BODYSTRUCTURE" => out.push(FetchAttr::BodyStructure),
        "UID" => out.push(FetchAttr::Uid),
        "MODSEQ" => out.push(FetchAttr::ModSeq),
        "BODY" | "BODY.PEEK" => {
            if !c.eat(b'[') {
                if name == "BODY" {
                    out.push(FetchAttr::Body);
                    return Ok(());
                }
                return Err("BODY.PEEK needs a section".into());
            }
            let sec = section(c)?;
            let partial = partial(c)?;
            out.push(FetchAttr::Section {
                peek: name == "BODY.PEEK",
                section: sec,
                partial,
            });
        }
        "BINARY" | "BINARY.PEEK" | "BINARY.SIZE" => {
            if !c.eat(b'[') {
                return Err(format!("{name} needs a section"));
            }
            let sec = section(c)?;
            if sec.text != SectionText::Full {
                return Err(format!("{name} takes part numbers only"));
            }
            if name == "BINARY.SIZE" {
                out.push(FetchAttr::BinarySize { part: sec.part });
            } else {
                let partial = partial(c)?;
                out.push(FetchAttr::Binary {
                    peek: name == "BINARY.PEEK",
                    part: sec.part,
                    partial,
                });
            }
        }
        _ => return Err(format!("unknown FETCH item {name:?}")),
    }
    Ok(())
}

/// A `<origin.length>` partial after a section, if there.
fn partial(c: &mut Cur<'_>) -> R<Option<(u32, u32)>> {
    if !c.eat(b'<') {
        return Ok(None);
    }
    let a = c.number()?;
    if !c.eat(b'.') {
        return Err("partial needs origin.length".into());
    }
    let b = c.number()?;
    if !c.eat(b'>') {
        return Err("expected >".into());
    }
    if b == 0 || a > u32::MAX as u64 || b > u32::MAX as u64 {
        return Err("invalid partial".into());
    }
    Ok(Some((a as u32, b as u32)))
}
