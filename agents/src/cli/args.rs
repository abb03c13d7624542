//! The command line's grammar (clap): every subcommand and option of `postrider` and
//! `postrider-std`, also the source of the manual pages (see [`crate::manpages`]).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "postrider",
    version,
    about = "a complete mail system: SMTP, submission, delivery, POP3, IMAP, ManageSieve, webmail"
)]
pub(crate) struct Cli {
    /// Configuration file (also $POSTRIDER_CONFIG, then ./postrider.toml).
    #[arg(short = 'c', long = "config", global = true, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Cmd,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Cmd {
    /// Run every configured listener and the queue runner until SIGTERM/SIGINT.
    Serve,
    /// sendmail(8)-compatible submission from stdin into the queue.
    Sendmail {
        /// sendmail options and recipients: [-t] [-i] [-oi] [-f SENDER] [-F NAME] [--] [RCPT...]
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Compile the aliases file into the aliases.db that delivery reads.
    Newaliases,
    /// List the queue.
    Mailq,
    /// Queue maintenance.
    Queue {
        #[command(subcommand)]
        action: QueueCmd,
    },
    /// Storage tools.
    Store {
        #[command(subcommand)]
        /// What to do.
        action: StoreCmd,
    },
    /// Manage mail accounts (users file).
    User {
        #[command(subcommand)]
        action: UserCmd,
    },
    /// Parse and validate the configuration and print the effective configuration.
    CheckConfig,
    /// vacation(1) auto-replies for .forward pipes: reads a message on stdin and answers
    /// its sender once per interval with ~/.vacation.msg.
    Vacation {
        /// The absent user (default: $USER).
        user: Option<String>,
        /// Another address of the user (repeatable).
        #[arg(short = 'a', long = "alias", value_name = "ADDRESS")]
        aliases: Vec<String>,
        /// Time between two replies to one sender (default 7d).
        #[arg(short = 'r', long = "interval", value_name = "DURATION")]
        interval: Option<String>,
    },
    /// Appends an mbox entry from stdin to a file, with locking (used by the delivery
    /// agent to write files as another user).
    #[command(hide = true)]
    InternalAppendFile {
        /// The file.
        path: PathBuf,
    },
    /// Writes a file to stdout (used by the delivery agent to read a user's file with the
    /// user's privileges); exit 66 when it does not exist.
    #[command(hide = true)]
    InternalReadFile {
        /// The file.
        path: PathBuf,
    },
    /// Replaces a file with stdin (used by the delivery agent to write a user's file with
    /// the user's privileges).
    #[command(hide = true)]
    InternalWriteFile {
        /// The file.
        path: PathBuf,
    },
    /// Sieve tools.
    Sieve {
        #[command(subcommand)]
        action: SieveCmd,
    },
    /// DKIM tools.
    Dkim {
        #[command(subcommand)]
        action: DkimCmd,
    },
    /// Ask the running server of this configuration (data_dir/postrider.pid) to reload
    /// its configuration, as SIGHUP does.
    Reload,
    /// Ask the running server of this configuration to drain and exit; waits for it.
    Stop,
    /// Check what the local domains (or DOMAIN...) need in DNS (MX, addresses, PTR, SPF,
    /// DKIM, DMARC, MTA-STS, TLS-RPT) through [dns], and the TLS certificate; one line
    /// per check (ok, warn or fail, why, and the record to publish); exit 1 on any fail.
    Doctor {
        /// The mail domains to check (default: every local domain but localhost).
        domains: Vec<String>,
    },
    /// Summarize a server log (text or JSON, as pflogsumm does): per day received,
    /// delivered, deferred, bounced, rejected; the top senders, recipients and reasons.
    LogSummary {
        /// Log files (default or `-`: standard input).
        files: Vec<PathBuf>,
        /// How many senders, recipients and reasons to list.
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
    /// Write the manual pages (postrider(8), one page per command, postrider.toml(5),
    /// sendmail(1)) into DIR, generated from this program's own definitions.
    Man {
        /// The directory to write into (created if missing).
        dir: PathBuf,
    },
    /// TLS-RPT (RFC 8460) aggregate reports.
    TlsRpt {
        #[command(subcommand)]
        action: TlsRptCmd,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TlsRptCmd {
    /// Send the reports of the days that are over now (the server does it hourly).
    Send {
        /// Report today's sessions too (the day so far).
        #[arg(long)]
        today: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum QueueCmd {
    /// Retry all deferred messages now.
    Flush,
    /// Print one message's envelope and status.
    Show {
        /// Queue id.
        id: String,
    },
    /// Drop one message.
    Delete {
        /// Queue id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum StoreCmd {
    /// With [storage] backend = "postgres": copies a files-backend data_dir (accounts,
    /// aliases, folders with UIDs and flags, users' files, the queue) into the database;
    /// running it twice copies nothing twice.
    Import {
        /// The data_dir to copy.
        data_dir: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum UserCmd {
    /// Add an account.
    Add {
        /// Account name.
        name: String,
        /// Read the password as one line from stdin.
        #[arg(long)]
        password_stdin: bool,
        /// Make mail for root, postmaster and MAILER-DAEMON reach this account (the
        /// aliases file gets `root: NAME`).
        #[arg(long)]
        postmaster: bool,
    },
    /// Change an account's password.
    Passwd {
        /// Account name.
        name: String,
        /// Read the password as one line from stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove an account (its mailbox stays).
    Del {
        /// Account name.
        name: String,
    },
    /// List accounts.
    List,
    /// Set an account's storage limit (`100K`, `20M`, `2G`, binary units; `none` removes
    /// it), enforced at delivery and APPEND and reported by IMAP QUOTA; without SIZE,
    /// show the limit and what the account uses.
    Quota {
        /// Account name.
        name: String,
        /// The limit.
        size: Option<String>,
    },
    /// Show, set or remove an account's `.forward`, `.sieve` or `.vacation.msg` (kept in
    /// its home, or in the database with the PostgreSQL backend).
    File {
        /// Account name.
        name: String,
        /// `.forward`, `.sieve` or `.vacation.msg`.
        file: String,
        /// Replace it with this file's contents.
        #[arg(long)]
        set: Option<std::path::PathBuf>,
        /// Print it.
        #[arg(long)]
        show: bool,
        /// Remove it.
        #[arg(long)]
        delete: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum SieveCmd {
    /// Validate a Sieve script.
    Check {
        /// The script.
        file: PathBuf,
    },
    /// Run a script over a message without delivering it; print the actions.
    Test {
        /// The script.
        script: PathBuf,
        /// The message.
        message: PathBuf,
        /// Envelope sender.
        #[arg(short = 'f', long, default_value = "sender@example.org")]
        from: String,
        /// Envelope recipient.
        #[arg(short = 'r', long, default_value = "recipient@example.org")]
        to: String,
        /// Directory of the scripts `include :personal` names (NAME.sieve).
        #[arg(long)]
        personal: Option<PathBuf>,
        /// Directory of the scripts `include :global` names (NAME.sieve).
        #[arg(long)]
        global: Option<PathBuf>,
        /// A folder `mailboxexists` sees (repeatable).
        #[arg(long = "mailbox")]
        mailboxes: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum DkimCmd {
    /// Write a signing key and print the DNS record.
    Keygen {
        /// Signing domain.
        domain: String,
        /// Selector.
        #[arg(long)]
        selector: Option<String>,
        /// rsa or ed25519.
        #[arg(long)]
        algorithm: Option<String>,
    },
}

/// The command line's definition, for the manual pages.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}
