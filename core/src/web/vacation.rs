//! The vacation switch of the settings page, done the classic way vacation(1) users know:
//! the reply text in `~/.vacation.msg` and, while it is on, a `"|postrider vacation USER"`
//! pipe in `~/.forward` beside `\USER` (so the mail is still kept, Sieve included). Pure
//! text edits of those two files; the agent reads and writes them.

use crate::delivery::aliases::parse_target_list;
use crate::imf::header::split_header_to_blank_line;

/// Whether a `.forward` target is a postrider vacation pipe.
fn is_vacation_pipe(target: &str) -> bool {
    let Some(command) = target.strip_prefix('|') else {
        return false;
    };
    let mut words = command.split_whitespace();
    let program = words.next().unwrap_or("");
    let name = program.rsplit('/').next().unwrap_or("");
    matches!(name, "postrider" | "postrider-std") && words.any(|w| w == "vacation")
}

/// Whether this `.forward` text runs the vacation reply.
pub fn vacation_enabled(forward: &str) -> bool {
    parse_target_list(forward)
        .iter()
        .any(|t| is_vacation_pipe(t))
}

/// A target as a `.forward` line: quoted when it holds a space or a comma. A stray
/// double quote (from a hand-written file with unbalanced quotes) is dropped, so the
/// lines written always split back into the same targets.
fn quoted(target: &str) -> String {
    let target = target.replace('"', "");
    if target.contains([' ', ',', '\t']) {
        format!("\"{target}\"")
    } else {
        target
    }
}

/// The `.forward` text with the vacation pipe `command` (without its `|`) and `\user`
/// added (other targets kept, an earlier vacation pipe replaced).
pub fn forward_with_vacation(forward: &str, user: &str, command: &str) -> String {
    let keep_self = format!("\\{user}");
    let mut targets: Vec<String> = parse_target_list(forward)
        .into_iter()
        .filter(|t| !is_vacation_pipe(t))
        .collect();
    // Without other targets the mail went to the mailbox: keep it there.
    if targets.is_empty() {
        targets.push(keep_self);
    }
    targets.push(format!("|{command}"));
    lines(&targets)
}

/// The `.forward` text without the vacation pipe; None when nothing else is left but
/// `\user` (the file can go: the mail goes to the mailbox anyway).
pub fn forward_without_vacation(forward: &str, user: &str) -> Option<String> {
    let keep_self = format!("\\{user}");
    let targets: Vec<String> = parse_target_list(forward)
        .into_iter()
        .filter(|t| !is_vacation_pipe(t))
        .collect();
    if targets.is_empty() || (targets.len() == 1 && targets[0].eq_ignore_ascii_case(&keep_self)) {
        return None;
    }
    Some(lines(&targets))
}

fn lines(targets: &[String]) -> String {
    let mut out = String::new();
    for t in targets {
        out.push_str(&quoted(t));
        out.push('\n');
    }
    out
}

/// Whether a line reads as a header field (`Name: value`).
fn looks_like_field(line: &str) -> bool {
    line.split_once(':').is_some_and(|(name, _)| {
        !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
    })
}

/// The `.vacation.msg` text for a subject and a reply text (the subject encoded when it
/// is not ASCII; `$SUBJECT` is the subject of the message answered).
pub fn vacation_template(subject: &str, text: &str) -> String {
    let subject = subject.replace(['\r', '\n'], " ");
    let subject = subject.trim();
    let text = text.replace("\r\n", "\n");
    let mut out = String::new();
    if !subject.is_empty() {
        out.push_str("Subject: ");
        out.push_str(&crate::mime::encoded_word::encode(subject));
        out.push('\n');
    }
    if !text.is_ascii() {
        out.push_str("MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n");
    }
    // Without fields the text stands alone, unless its first line would read as one.
    if !out.is_empty() || looks_like_field(text.split('\n').next().unwrap_or("")) {
        out.push('\n');
    }
    out.push_str(&text);
    if !text.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// The subject and text of a `.vacation.msg` (for the form): its Subject field decoded
/// and its body; a file without a header is all text.
pub fn read_template(bytes: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(bytes).replace("\r\n", "\n");
    if let Some(rest) = text.strip_prefix('\n') {
        return (String::new(), rest.to_string());
    }
    if !looks_like_field(text.split('\n').next().unwrap_or("")) {
        return (String::new(), text);
    }
    let (fields, body_at) = split_header_to_blank_line(text.as_bytes());
    let subject = fields
        .iter()
        .find(|f| f.is("Subject"))
        .map(|f| crate::mime::encoded_word::decode(f.value().trim()))
        .unwrap_or_default();
    let body = text.get(body_at..).unwrap_or("").to_string();
    (subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIPE: &str = "/usr/bin/postrider -c /etc/postrider.toml vacation alice";

    #[test]
    fn switching_on_and_off_keeps_the_other_targets() {
        let on = forward_with_vacation("", "alice", PIPE);
        assert_eq!(on, format!("\\alice\n\"|{PIPE}\"\n"));
        assert!(vacation_enabled(&on));
        assert_eq!(forward_without_vacation(&on, "alice"), None);

        let with_copy = forward_with_vacation("\\alice, bob@b.test\n", "alice", PIPE);
        assert!(vacation_enabled(&with_copy));
        assert_eq!(
            forward_without_vacation(&with_copy, "alice").as_deref(),
            Some("\\alice\nbob@b.test\n")
        );
        // A forward elsewhere stays a forward elsewhere.
        let away = forward_with_vacation("bob@b.test", "alice", PIPE);
        assert!(!parse_target_list(&away).contains(&"\\alice".to_string()));
        // Switching on twice leaves one pipe.
        let twice = forward_with_vacation(&on, "alice", PIPE);
        assert_eq!(twice, on);
        assert!(!vacation_enabled("\\alice\n\"|/usr/bin/procmail\"\n"));
        assert!(!vacation_enabled("\\alice\n|/bin/vacation alice\n"));
        // Unbalanced quotes in a hand-written file do not swallow the pipe.
        let odd = forward_with_vacation("\\alice\n\"|/usr/bin/procmail, bob\n", "alice", PIPE);
        assert!(vacation_enabled(&odd), "{odd}");
        assert!(!forward_without_vacation(&odd, "alice").is_some_and(|f| vacation_enabled(&f)));
    }

    #[test]
    fn templates_round_trip() {
        let t = vacation_template("Away: back Monday", "I am away.\r\nBack soon.");
        assert_eq!(t, "Subject: Away: back Monday\n\nI am away.\nBack soon.\n");
        assert_eq!(
            read_template(t.as_bytes()),
            (
                "Away: back Monday".to_string(),
                "I am away.\nBack soon.\n".to_string()
            )
        );
        let u = vacation_template("En congé", "Absent jusqu’à lundi.");
        assert!(u.starts_with("Subject: =?"));
        assert!(u.contains("charset=utf-8"));
        assert_eq!(read_template(u.as_bytes()).0, "En congé");
        assert_eq!(read_template(b"Just text\n").1, "Just text\n");
        assert_eq!(vacation_template("", "Back soon."), "Back soon.\n");
        let field_like = vacation_template("", "Note: back soon.");
        assert_eq!(field_like, "\nNote: back soon.\n");
        assert_eq!(read_template(field_like.as_bytes()).1, "Note: back soon.\n");
    }
}
