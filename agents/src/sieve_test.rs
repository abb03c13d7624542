//! `postrider sieve test`: runs a script over a message file as delivery would (with its
//! includes), delivers nothing, and prints the actions one per line: `store FOLDER
//! [flags=...]`, `redirect ADDRESS`, `reject REASON`, `vacation days=N REASON`. The
//! comparison with Pigeonhole's `sieve-test` (tests/interop/sieve_compare.py) reads this.

use std::fs;
use std::path::PathBuf;

use postrider_core::sieve::{Action, Location, MessageContext, Script};

use crate::sieve::{library_for, read_optional};

/// What to run.
#[derive(Debug, Clone)]
pub struct TestRun {
    /// The script file.
    pub script: PathBuf,
    /// The message file.
    pub message: PathBuf,
    /// The envelope sender.
    pub from: String,
    /// The envelope recipient.
    pub to: String,
    /// Where `include :personal "NAME"` finds `NAME.sieve`.
    pub personal: Option<PathBuf>,
    /// Where `include :global "NAME"` finds `NAME.sieve`.
    pub global: Option<PathBuf>,
    /// Folders `mailboxexists` sees.
    pub mailboxes: Vec<String>,
}

/// Runs `t` and prints its actions; `delimiters` is `recipient_delimiter`.
pub fn run(t: &TestRun, delimiters: &str) -> Result<(), String> {
    let text = fs::read_to_string(&t.script)
        .map_err(|e| format!("cannot read {}: {e}", t.script.display()))?;
    let message =
        fs::read(&t.message).map_err(|e| format!("cannot read {}: {e}", t.message.display()))?;
    let script = Script::compile(&text).map_err(|errors| {
        let shown: Vec<String> = errors
            .iter()
            .map(|e| format!("{}:{e}", t.script.display()))
            .collect();
        shown.join("\n")
    })?;
    let fetch = |location: Location, name: &str| {
        let dir = match location {
            Location::Personal => &t.personal,
            Location::Global => &t.global,
        };
        match dir {
            Some(d) => read_optional(&d.join(format!("{name}.sieve"))),
            None => Ok(None),
        }
    };
    let (library, _) = library_for(&script, fetch, "sieve-test");
    let actions = script.run(&MessageContext {
        message: &message,
        envelope_from: &t.from,
        envelope_to: &t.to,
        delimiters,
        mailboxes: &t.mailboxes,
        library: &library,
        now: crate::context::wall_now(),
    })?;
    for a in actions {
        println!("{}", describe(&a));
    }
    Ok(())
}

/// One action as a line.
fn describe(a: &Action) -> String {
    let with_flags = |folder: &str, flags: &[String]| {
        if flags.is_empty() {
            format!("store {folder}")
        } else {
            format!("store {folder} flags={}", flags.join(" "))
        }
    };
    match a {
        Action::Keep { flags } => with_flags("INBOX", flags),
        Action::FileInto { mailbox, flags } => with_flags(mailbox, flags),
        Action::Redirect { address } => format!("redirect {address}"),
        Action::Reject { reason } => format!("reject {}", reason.lines().next().unwrap_or("")),
        Action::Vacation(v) => format!(
            "vacation days={} {}",
            v.days,
            v.reason.lines().next().unwrap_or("")
        ),
    }
}
