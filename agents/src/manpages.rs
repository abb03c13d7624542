//! The manual pages, generated from the program's own definitions so they never drift
//! from it: postrider(8) and a page per command from the clap grammar (clap_mangen),
//! sendmail(1) from the `sendmail` command with its compatibility notes, and
//! postrider.toml(5) from docs/configuration.md (whose block of keys and defaults the
//! test suite keeps equal to what `check-config` prints).

use std::fs;
use std::path::{Path, PathBuf};

use clap_mangen::Man;

/// The configuration reference the TOML page is made of.
const CONFIGURATION: &str = include_str!("../../docs/configuration.md");

/// What postrider(8) says beyond the options and commands.
const MAIN_EXTRA: &str = r#".SH SIGNALS
.TP
\fBSIGTERM\fR, \fBSIGINT\fR
Stop accepting, let sessions end (10 s at most) and the delivery in progress finish, exit 0
(\fBpostrider stop\fR sends it through \fIdata_dir\fR/postrider.pid and waits).
.TP
\fBSIGHUP\fR
Reload the whole configuration (\fBpostrider reload\fR): listeners added and removed, limits,
domains, aliases file, DKIM keys, TLS certificate, log level; sessions in progress go on.
A file that does not validate is logged and the running configuration kept.
\fBdata_dir\fR, \fBaccounts\fR, \fB[storage]\fR, \fBuser\fR and \fBlog_format\fR change at the next start.
.SH FILES
.TP
\fI/etc/postrider/postrider.toml\fR
The configuration as packaged (see \fBpostrider.toml\fR(5)); elsewhere \fB-c\fR, \fB$POSTRIDER_CONFIG\fR or ./postrider.toml.
.TP
\fIdata_dir\fR/mail/USER, \fIdata_dir\fR/maildir/USER/
INBOX of file accounts (mbox, or Maildir with \fBmailbox_format = "maildir"\fR).
.TP
\fIdata_dir\fR/queue/
The durable queue.
.TP
\fIdata_dir\fR/users, \fIdata_dir\fR/aliases, aliases.db
Accounts and aliases(5).
.TP
\fIdata_dir\fR/format-version, \fIdata_dir\fR/postrider.pid
The on-disk format (an older one is upgraded, a newer one refused) and the running server.
.SH EXIT STATUS
0 on success; 1 with a one-line message on standard error otherwise (\fBdoctor\fR: a check failed).
.SH SEE ALSO
\fBpostrider.toml\fR(5), \fBsendmail\fR(1), \fBaliases\fR(5)
"#;

/// What sendmail(1) adds to the `sendmail` command's options.
const SENDMAIL_NOTES: &str = r#".SH DESCRIPTION
Reads a message on standard input and puts it straight into postrider's queue: no network
and no password are needed. Missing \fBDate:\fR and \fBMessage-ID:\fR fields are added, and
mail from a domain with a \fB[[dkim.sign]]\fR entry is signed. Installed as \fBsendmail\fR
(or invoked with that name), postrider takes this role; \fBmailq\fR and \fBnewaliases\fR
likewise select \fBpostrider mailq\fR and \fBpostrider newaliases\fR.
.SH OPTIONS
.TP
\fB\-t\fR
Recipients from the To:, Cc: and Bcc: fields (added to those named); Bcc: is removed.
.TP
\fB\-i\fR, \fB\-oi\fR
A line with a single dot does not end the message.
.TP
\fB\-f\fR \fISENDER\fR, \fB\-r\fR \fISENDER\fR
The envelope sender (\fB<>\fR for none); default: the user running the command.
.TP
\fB\-F\fR \fINAME\fR
The full name in the From: field it adds when there is none.
.TP
\fB\-bs\fR
An SMTP session on standard input and output.
.TP
\fB\-bp\fR, \fB\-bi\fR, \fB\-q\fR
As \fBmailq\fR, \fBnewaliases\fR and \fBpostrider queue flush\fR.
.SH COMPATIBILITY
Accepted and ignored, as Postfix does: \fB\-bm\fR, \fB\-v\fR, \fB\-n\fR, \fB\-U\fR,
\fB\-Am\fR, \fB\-Ac\fR, \fB\-o\fR\fIx\fR, \fB\-d\fR\fIx\fR, and \fB\-N\fR, \fB\-R\fR,
\fB\-V\fR, \fB\-B\fR with their value (DSN options of the command line are not applied).
Any other option is an error (exit 1). The message size limit is \fB[smtp] max_message_size\fR.
.SH SEE ALSO
\fBpostrider\fR(8), \fBpostrider.toml\fR(5)
"#;

/// Writes every page of the command line `cmd` (`crate::cli::command()`) into `dir`;
/// returns their paths.
pub fn write_all(dir: &Path, cmd: clap::Command) -> Result<Vec<PathBuf>, String> {
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let version = env!("CARGO_PKG_VERSION");
    let mut pages = vec![(
        "postrider.8".to_string(),
        render(cmd.clone().version(version), "8", MAIN_EXTRA)?,
    )];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("postrider-{}", sub.get_name());
        let page = sub.clone().name(name.clone()).version(version);
        pages.push((format!("{name}.8"), render(page, "8", "")?));
    }
    if let Some(sendmail) = cmd.find_subcommand("sendmail") {
        let page = sendmail
            .clone()
            .name("sendmail")
            .about("postrider's sendmail-compatible mail submission")
            .version(version);
        pages.push(("sendmail.1".into(), render_sendmail(page)?));
    }
    pages.push(("postrider.toml.5".into(), toml_page(version)));
    let mut written = Vec::new();
    for (file, text) in pages {
        let path = dir.join(file);
        fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// clap_mangen's page of `cmd` in `section`, with `extra` roff sections after it.
fn render(cmd: clap::Command, section: &str, extra: &str) -> Result<String, String> {
    let mut out = Vec::new();
    Man::new(cmd)
        .section(section)
        .manual("postrider")
        .render(&mut out)
        .map_err(|e| e.to_string())?;
    let mut text = String::from_utf8_lossy(&out).into_owned();
    text.push_str(extra);
    Ok(text)
}

/// sendmail(1): clap_mangen's title, name and synopsis, then the notes (which describe
/// the options sendmail parses itself), then the version.
fn render_sendmail(cmd: clap::Command) -> Result<String, String> {
    let man = Man::new(cmd).section("1").manual("postrider");
    let mut out = Vec::new();
    man.render_title(&mut out)
        .and_then(|()| man.render_name_section(&mut out))
        .and_then(|()| man.render_synopsis_section(&mut out))
        .map_err(|e| e.to_string())?;
    out.extend_from_slice(SENDMAIL_NOTES.as_bytes());
    man.render_version_section(&mut out)
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// postrider.toml(5): docs/configuration.md as roff (headings, paragraphs, the TOML
/// block and tables kept as they are written).
fn toml_page(version: &str) -> String {
    let mut out = format!(
        ".TH POSTRIDER.TOML 5 \"\" \"postrider {version}\" \"postrider\"\n.SH NAME\npostrider.toml \\- postrider's configuration file\n"
    );
    let mut verbatim = false;
    for line in CONFIGURATION.lines() {
        if line.starts_with("```") {
            out.push_str(if verbatim { ".fi\n" } else { ".nf\n" });
            verbatim = !verbatim;
            continue;
        }
        if verbatim || line.starts_with('|') {
            out.push_str(&escape(line));
            out.push('\n');
            continue;
        }
        if let Some(h) = line.strip_prefix("# ") {
            out.push_str(&format!(".SH DESCRIPTION\n.\\\" {}\n", escape(h)));
        } else if let Some(h) = line.trim_start_matches('#').strip_prefix(' ') {
            out.push_str(&format!(".SH {}\n", escape(&h.to_uppercase())));
        } else if line.trim().is_empty() {
            out.push_str(".PP\n");
        } else {
            out.push_str(&escape(&line.replace(['`', '*'], "")));
            out.push('\n');
        }
    }
    out.push_str(".SH SEE ALSO\n\\fBpostrider\\fR(8)\n");
    out
}

/// A line as roff text: backslashes escaped, and a leading `.` or `'` kept from being
/// read as a request.
fn escape(line: &str) -> String {
    let text = line.replace('\\', "\\e");
    if text.starts_with(['.', '\'']) {
        format!("\\&{text}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_name_every_command_and_key() {
        let dir = std::env::temp_dir().join(format!("postrider-man-{}", std::process::id()));
        let written = write_all(&dir, crate::cli::command()).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for want in [
            "postrider.8",
            "postrider-doctor.8",
            "postrider-serve.8",
            "sendmail.1",
            "postrider.toml.5",
        ] {
            assert!(
                names.iter().any(|n| n == want),
                "{want} missing from {names:?}"
            );
        }
        assert!(!names.iter().any(|n| n.contains("internal")), "{names:?}");
        let main = fs::read_to_string(dir.join("postrider.8")).unwrap();
        assert!(
            main.starts_with(".ie \\n(.g .ds Aq \\(aq") || main.contains(".TH postrider 8"),
            "{main}"
        );
        assert!(main.contains("doctor") && main.contains("SIGHUP"));
        let toml = fs::read_to_string(dir.join("postrider.toml.5")).unwrap();
        assert!(toml.contains("max_message_size = 10485760"));
        assert!(toml.contains(".nf\n") && toml.contains(".fi\n"));
        let sendmail = fs::read_to_string(dir.join("sendmail.1")).unwrap();
        assert!(sendmail.contains("\\-bs") && sendmail.contains("COMPATIBILITY"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn roff_requests_in_text_are_escaped() {
        assert_eq!(escape(".not a request"), "\\&.not a request");
        assert_eq!(escape("a\\b"), "a\\eb");
    }
}
