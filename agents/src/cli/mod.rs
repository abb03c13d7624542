//! The command line shared by `postrider` and `postrider-std` (CONTRACT.md): config
//! discovery, argv[0] dispatch (`sendmail`, `mailq`, `newaliases`), and every subcommand
//! except `serve`, which each runtime supplies.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use crate::config::AccountsKind;
use crate::config::{Config, Settings};
use crate::context::Context;
use crate::sendmail;
use postrider_store::accounts::{AccountStore, Secret, UsersFile};
use postrider_store::queue::RcptStatus;

mod args;

pub use args::command;
use args::{Cli, Cmd, DkimCmd, QueueCmd, SieveCmd, StoreCmd, TlsRptCmd, UserCmd};

/// The `serve` implementation of a runtime: serves the listeners bound for it.
pub type ServeFn = fn(Arc<Context>, Vec<crate::reload::Bound>) -> Result<(), String>;

/// Splits `-c FILE`, `-cFILE`, `--config FILE`, `--config=FILE` out of the arguments
/// (anywhere before `--`), so it works before or after any subcommand.
fn extract_config(args: Vec<String>) -> Result<(Vec<String>, Option<PathBuf>), String> {
    let mut out = Vec::with_capacity(args.len());
    let mut config = None;
    let mut iter = args.into_iter();
    while let Some(a) = iter.next() {
        if a == "--" {
            out.push(a);
            out.extend(iter.by_ref());
            break;
        }
        if a == "-c" || a == "--config" {
            config = Some(PathBuf::from(
                iter.next()
                    .ok_or_else(|| format!("{a} needs a file name"))?,
            ));
        } else if let Some(v) = a.strip_prefix("--config=") {
            config = Some(PathBuf::from(v));
        } else if let Some(v) = a
            .strip_prefix("-c")
            .filter(|v| !v.is_empty() && !a.starts_with("--"))
        {
            config = Some(PathBuf::from(v));
        } else {
            out.push(a);
        }
    }
    Ok((out, config))
}

/// The system-wide configuration a packaged build reads when no other is named (set at
/// build time: `POSTRIDER_SYSTEM_CONFIG=/etc/postrider/postrider.toml cargo build`).
const SYSTEM_CONFIG: Option<&str> = option_env!("POSTRIDER_SYSTEM_CONFIG");

/// Finds and validates the configuration: `-c`, `$POSTRIDER_CONFIG`, `./postrider.toml`,
/// then (packaged builds) the system-wide file when it exists, else the embedded
/// defaults.
pub fn load_settings(explicit: Option<PathBuf>) -> Result<Settings, String> {
    let path = explicit
        .or_else(|| {
            std::env::var_os("POSTRIDER_CONFIG")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .or_else(|| {
            let p = PathBuf::from("postrider.toml");
            p.exists().then_some(p)
        })
        .or_else(|| SYSTEM_CONFIG.map(PathBuf::from).filter(|p| p.exists()));
    let config = match &path {
        Some(p) => Config::load(p).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    let mut settings = config.validate().map_err(|e| match &path {
        Some(p) => format!("{}: {e}", p.display()),
        None => e.to_string(),
    })?;
    settings.config_path = path.map(|p| std::path::absolute(&p).unwrap_or(p));
    Ok(settings)
}

fn read_password(stdin_mode: bool) -> Result<Secret, String> {
    if stdin_mode {
        let mut line = String::new();
        io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read password: {e}"))?;
        let pw = line.strip_suffix('\n').unwrap_or(&line);
        let pw = pw.strip_suffix('\r').unwrap_or(pw);
        return Ok(Secret::new(pw.to_string()));
    }
    if !io::stdin().is_terminal() {
        return Err("no terminal to ask for the password: use --password-stdin".into());
    }
    let first = rpassword::prompt_password("Password: ")
        .map_err(|e| format!("cannot read password: {e}"))?;
    let second =
        rpassword::prompt_password("Again: ").map_err(|e| format!("cannot read password: {e}"))?;
    if first != second {
        return Err("the passwords do not match".into());
    }
    Ok(Secret::new(first))
}

fn open_context(settings: Settings) -> Result<Context, String> {
    let what = match settings.config.storage.backend {
        crate::config::StorageBackend::Files => {
            format!("data directory {}", settings.config.data_dir.display())
        }
        crate::config::StorageBackend::Postgres => "the database ([storage] url)".to_string(),
    };
    Context::open(settings).map_err(|e| format!("cannot open {what}: {e}"))
}

fn mailq(ctx: &Context) -> Result<(), String> {
    let ids = ctx
        .queue
        .list()
        .map_err(|e| format!("cannot read the queue: {e}"))?;
    let mut out = io::stdout().lock();
    if ids.is_empty() {
        let _ = writeln!(out, "Mail queue is empty");
        return Ok(());
    }
    let _ = writeln!(
        out,
        "-Queue ID-        --Size-- ----Arrival Time---- -Sender/Recipient-------"
    );
    let mut total = 0u64;
    let mut count = 0;
    for id in ids {
        let Ok(env) = ctx.queue.load(&id) else {
            continue;
        };
        total += env.size;
        count += 1;
        let when = postrider_core::imf::datetime::WallClock::utc(env.arrival).asctime();
        let sender = if env.sender.is_empty() {
            "MAILER-DAEMON"
        } else {
            &env.sender
        };
        let _ = writeln!(
            out,
            "{:<17} {:>8} {:<20} {}",
            id,
            env.size,
            &when[..when.len().min(19)],
            sender
        );
        for r in &env.recipients {
            if !r.last_error.is_empty() && r.is_open() {
                let _ = writeln!(out, "{:48}({})", "", r.last_error);
            }
            if r.status == RcptStatus::Deferred {
                let next = postrider_core::imf::datetime::WallClock::utc(r.next_attempt).asctime();
                let _ = writeln!(
                    out,
                    "{:48}(next attempt: {}, attempts so far: {})",
                    "",
                    &next[..next.len().min(19)],
                    r.attempts
                );
            }
            let state = match r.status {
                RcptStatus::Delivered => " (delivered)",
                RcptStatus::Failed => " (failed)",
                _ => "",
            };
            let _ = writeln!(out, "{:48}{}{}", "", r.address, state);
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "-- {} Kbytes in {} Request{}.",
        total.div_ceil(1024),
        count,
        if count == 1 { "" } else { "s" }
    );
    Ok(())
}

/// Runs the command line with `serve` supplied by the runtime; returns the exit status.
pub fn main_with(serve: ServeFn) -> ExitCode {
    match run(serve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("postrider: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn run(serve: ServeFn) -> Result<(), String> {
    let mut args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let argv0 = args.first().cloned().unwrap_or_default();
    let base = std::path::Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if matches!(base.as_str(), "sendmail" | "mailq" | "newaliases") {
        args.insert(1, base.clone());
    }
    let (args, config_path) = extract_config(args)?;
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return Ok(());
            }
            return Err(e
                .to_string()
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ")
                .to_string());
        }
    };
    let settings = load_settings(config_path.or(cli.config))?;
    let serving = matches!(cli.command, Cmd::Serve);
    if serving {
        crate::logging::init(settings.config.log.as_str(), settings.config.log_format);
    } else {
        crate::logging::init("warn", crate::config::LogFormat::Text);
    }
    // Commands run by root act as the server's user, so what they write stays the
    // server's (serve does it after binding its listeners; the internal helpers are
    // started with the identity they need, and vacation runs as the absent user).
    let own_identity = matches!(
        cli.command,
        Cmd::Serve
            | Cmd::Vacation { .. }
            | Cmd::InternalAppendFile { .. }
            | Cmd::InternalReadFile { .. }
            | Cmd::InternalWriteFile { .. }
    );
    if !own_identity && crate::server_user::should_drop(&settings) {
        crate::server_user::become_user(&settings, false)?;
    }
    match cli.command {
        Cmd::Serve => start_serving(settings, serve),
        Cmd::CheckConfig => check_config(settings),
        Cmd::Sendmail { args } => {
            let parsed = sendmail::parse_args(&args)?;
            if parsed.mode == sendmail::Mode::RebuildAliases {
                return newaliases(&settings);
            }
            if parsed.mode == sendmail::Mode::Submit && sendmail::queue_closed(&settings) {
                return sendmail::run_over_smtp(&settings, &parsed, &mut io::stdin().lock());
            }
            let ctx = Arc::new(open_context(settings)?);
            match parsed.mode {
                sendmail::Mode::Smtp => sendmail::run_smtp_session(
                    &ctx,
                    &mut io::stdin().lock(),
                    &mut io::stdout().lock(),
                ),
                sendmail::Mode::ListQueue => mailq(&ctx),
                sendmail::Mode::Flush => queue_command(&ctx, QueueCmd::Flush),
                _ => sendmail::run(&ctx, &parsed, &mut io::stdin().lock()).map(drop),
            }
        }
        Cmd::Mailq => mailq(&open_context(settings)?),
        Cmd::Newaliases => newaliases(&settings),
        Cmd::Queue { action } => queue_command(&open_context(settings)?, action),
        Cmd::User { action } => user_command(&settings, action),
        Cmd::Store { action } => store_command(settings, action),
        Cmd::Vacation {
            user,
            aliases,
            interval,
        } => vacation_command(settings, user, aliases, interval),
        Cmd::InternalAppendFile { path } => {
            let entry = read_stdin()?;
            postrider_store::mbox::deliver_entry(&path, &entry)
                .map_err(|e| format!("{}: {e}", path.display()))
        }
        Cmd::InternalReadFile { path } => match std::fs::read(&path) {
            Ok(bytes) => io::stdout()
                .lock()
                .write_all(&bytes)
                .map_err(|e| format!("cannot write: {e}")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::process::exit(crate::privileges::EXIT_NOT_FOUND)
            }
            Err(e) => Err(format!("{}: {e}", path.display())),
        },
        Cmd::InternalWriteFile { path } => {
            let bytes = read_stdin()?;
            postrider_store::fsutil::replace_file(&path, &bytes)
                .map_err(|e| format!("{}: {e}", path.display()))
        }
        Cmd::Sieve {
            action: SieveCmd::Check { file },
        } => crate::sieve::check_file(&file),
        Cmd::Sieve {
            action:
                SieveCmd::Test {
                    script,
                    message,
                    from,
                    to,
                    personal,
                    global,
                    mailboxes,
                },
        } => crate::sieve_test::run(
            &crate::sieve_test::TestRun {
                script,
                message,
                from,
                to,
                personal,
                global,
                mailboxes,
            },
            &settings.config.recipient_delimiter,
        ),
        cmd @ (Cmd::Reload | Cmd::Stop) => {
            let request = if matches!(cmd, Cmd::Stop) {
                crate::lifecycle::Request::Stop
            } else {
                crate::lifecycle::Request::Reload
            };
            let said = crate::lifecycle::signal_server(&settings.config.data_dir, request)?;
            println!("postrider: {said}");
            Ok(())
        }
        Cmd::LogSummary { files, top } => log_summary(&files, top),
        Cmd::Man { dir } => {
            for page in crate::manpages::write_all(&dir, command())? {
                println!("{}", page.display());
            }
            Ok(())
        }
        Cmd::Doctor { domains } => {
            crate::doctor::command(&settings, &domains, postrider_store::queue::unix_now())
        }
        Cmd::TlsRpt {
            action: TlsRptCmd::Send { today },
        } => {
            let ctx = open_context(settings)?;
            let resolver = crate::resolver::Resolver::from_settings(&ctx.settings());
            let now = postrider_store::queue::unix_now();
            let n = crate::tls_rpt::send_due(&ctx, &resolver, now, today);
            println!("{n} TLS-RPT report(s) sent");
            Ok(())
        }
        Cmd::Dkim {
            action:
                DkimCmd::Keygen {
                    domain,
                    selector,
                    algorithm,
                },
        } => {
            let record = crate::dkim::keygen(
                &settings,
                &domain,
                selector.as_deref().unwrap_or("default"),
                algorithm.as_deref().unwrap_or("rsa"),
            )?;
            println!("{record}");
            Ok(())
        }
    }
}

/// `log-summary`: reads each file (or standard input) line by line and prints the report.
fn log_summary(files: &[PathBuf], top: usize) -> Result<(), String> {
    use std::io::BufRead;
    let mut summary = postrider_core::log_summary::Summary::default();
    let mut read = |reader: &mut dyn BufRead, name: &str| -> Result<(), String> {
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => return Ok(()),
                Ok(_) => summary.add_line(&String::from_utf8_lossy(&line)),
                Err(e) => return Err(format!("{name}: {e}")),
            }
        }
    };
    if files.is_empty() || files.iter().all(|f| f.as_os_str() == "-") {
        read(&mut io::stdin().lock(), "standard input")?;
    }
    for file in files.iter().filter(|f| f.as_os_str() != "-") {
        let f = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
        read(&mut io::BufReader::new(f), &file.display().to_string())?;
    }
    print!("{}", summary.render(top));
    Ok(())
}

/// Everything on standard input (the internal helpers' input).
fn read_stdin() -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    io::Read::read_to_end(&mut io::stdin().lock(), &mut bytes)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    Ok(bytes)
}

/// `serve`: checks, opens the data directory, compiles the aliases at the first start,
/// then hands over to the runtime's listeners.
fn start_serving(settings: Settings, serve: ServeFn) -> Result<(), String> {
    crate::privileges::check_serve_privileges(&settings)?;
    let bound = crate::reload::bind_all(&crate::reload::wanted_listeners(&settings))?;
    if crate::server_user::should_drop(&settings) {
        crate::server_user::become_user(&settings, true)?;
    }
    crate::lifecycle::check_format(&settings.config.data_dir)?;
    let ctx = open_context(settings)?;
    let _pid_file = crate::lifecycle::PidFile::create(&ctx.settings().config.data_dir)?;
    ctx.tls.set(crate::tls::server_config(&ctx.settings())?);
    let source = ctx.settings().aliases_path();
    if source.exists() && !postrider_store::aliases::db_path(&source).exists() {
        // First start: compile the aliases so delivery has a db to read.
        match postrider_store::aliases::build_db(&source) {
            Ok((n, _)) => tracing::info!("{}: {n} aliases compiled", source.display()),
            Err(e) => tracing::warn!("{e}"),
        }
    }
    tracing::info!(
        "postrider {} starting: hostname {}, domains {:?}, data_dir {}",
        env!("CARGO_PKG_VERSION"),
        ctx.settings().config.hostname,
        ctx.settings().config.domains,
        ctx.settings().config.data_dir.display()
    );
    if let Some(w) = ctx.postmaster_warning() {
        tracing::warn!("{w}");
    }
    serve(Arc::new(ctx), bound)
}

/// `check-config`: prints the effective configuration (and the postmaster warning).
fn check_config(settings: Settings) -> Result<(), String> {
    print!("{}", settings.config.to_toml());
    if settings.config.data_dir.is_dir() {
        if let Some(w) = open_context(settings)?.postmaster_warning() {
            eprintln!("postrider: warning: {w}");
        }
    }
    Ok(())
}

/// `newaliases`: compiles the aliases file into its db (with PostgreSQL, loads it into
/// the database every node reads).
fn newaliases(settings: &Settings) -> Result<(), String> {
    let ctx = match settings.config.storage.backend {
        crate::config::StorageBackend::Postgres => Some(open_context(settings.clone())?),
        crate::config::StorageBackend::Files => None,
    };
    let pool = ctx.as_ref().and_then(|c| c.pool.as_ref());
    let done = crate::newaliases::rebuild(settings, pool)?;
    let path = settings.aliases_path();
    for w in &done.warnings {
        eprintln!("postrider: warning: {}:{w}", path.display());
    }
    println!(
        "{}: {} aliases, written to {}",
        path.display(),
        done.count,
        done.into
    );
    Ok(())
}

/// `queue flush|show|delete`.
fn queue_command(ctx: &Context, action: QueueCmd) -> Result<(), String> {
    match action {
        QueueCmd::Flush => {
            ctx.queue
                .request_flush()
                .map_err(|e| format!("cannot request a flush: {e}"))?;
            let _ = ctx
                .queue
                .leave_note("flush requested by `postrider queue flush`");
            Ok(())
        }
        QueueCmd::Show { id } => {
            let env = ctx.queue.load(&id).map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => format!("no such message in the queue: {id}"),
                _ => format!("{id}: {e}"),
            })?;
            print!(
                "{}",
                toml::to_string_pretty(&env).map_err(|e| e.to_string())?
            );
            Ok(())
        }
        QueueCmd::Delete { id } => {
            match ctx.queue.remove(&id) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(format!("no such message in the queue: {id}"))
                }
                Err(e) => return Err(format!("{id}: {e}")),
            }
            let _ = ctx
                .queue
                .leave_note(&format!("{id}: removed by `postrider queue delete`"));
            println!("{id}: removed");
            Ok(())
        }
    }
}

/// `store import DATA_DIR`.
fn store_command(settings: Settings, action: StoreCmd) -> Result<(), String> {
    let StoreCmd::Import { data_dir } = action;
    if settings.config.storage.backend != crate::config::StorageBackend::Postgres {
        return Err("store import needs [storage] backend = \"postgres\"".into());
    }
    let ctx = open_context(settings)?;
    let pool = ctx.pool.clone().ok_or("no database")?;
    let n = postrider_store::pg::import::import(&pool, &data_dir)?;
    println!(
        "{}: imported {} accounts, {} aliases, {} folders, {} messages, {} user files, \
         {} queued messages",
        data_dir.display(),
        n.accounts,
        n.aliases,
        n.folders,
        n.messages,
        n.files,
        n.queued
    );
    Ok(())
}

/// `user add|passwd|del|list` (file accounts only).
fn user_command(settings: &Settings, action: UserCmd) -> Result<(), String> {
    if let UserCmd::Quota { name, size } = &action {
        return quota_command(settings, name, size.as_deref());
    }
    if settings.config.accounts != AccountsKind::File {
        return Err("accounts = \"system\": manage accounts with the system's tools".into());
    }
    std::fs::create_dir_all(&settings.config.data_dir)
        .map_err(|e| format!("cannot create {}: {e}", settings.config.data_dir.display()))?;
    let users: std::sync::Arc<dyn AccountStore> =
        if settings.config.storage.backend == crate::config::StorageBackend::Postgres {
            open_context(settings.clone())?.accounts.clone()
        } else {
            std::sync::Arc::new(UsersFile::new(&settings.config.data_dir))
        };
    match action {
        UserCmd::Add {
            name,
            password_stdin,
            postmaster,
        } => {
            if !postrider_store::accounts::valid_name(&name) {
                return Err(postrider_store::accounts::AccountError::InvalidName(name).to_string());
            }
            let pw = read_password(password_stdin)?;
            users.add(&name, &pw).map_err(|e| e.to_string())?;
            if postmaster {
                // The data directory's layout and default aliases come first.
                open_context(settings.clone())?;
                let source = settings.aliases_path();
                postrider_store::aliases::set_alias(&source, "root", &name)?;
                println!(
                    "{}: root: {name} (postmaster and MAILER-DAEMON too)",
                    source.display()
                );
                if settings.config.storage.backend == crate::config::StorageBackend::Postgres {
                    // The nodes read aliases from the database: load the file, as
                    // newaliases does.
                    newaliases(settings)?;
                }
            }
            Ok(())
        }
        UserCmd::Passwd {
            name,
            password_stdin,
        } => {
            let pw = read_password(password_stdin)?;
            users.passwd(&name, &pw).map_err(|e| e.to_string())
        }
        UserCmd::Del { name } => users.delete(&name).map_err(|e| e.to_string()),
        UserCmd::List => {
            for n in users.list().map_err(|e| e.to_string())? {
                println!("{n}");
            }
            Ok(())
        }
        UserCmd::Quota { name, size } => quota_command(settings, &name, size.as_deref()),
        UserCmd::File {
            name,
            file,
            set,
            show,
            delete,
        } => user_file_command(settings, &name, &file, set, show, delete),
    }
}

/// `user quota NAME [SIZE]`.
fn quota_command(settings: &Settings, name: &str, size: Option<&str>) -> Result<(), String> {
    let ctx = open_context(settings.clone())?;
    if !ctx.accounts.exists(name) {
        return Err(format!("no such user {name:?}"));
    }
    let store = &ctx.mailboxes;
    if let Some(size) = size {
        let limit = postrider_store::quota::parse_limit(size)?;
        store.set_quota(name, limit).map_err(|e| e.text)?;
    }
    let limit = store.quota(name).map_err(|e| e.text)?;
    let used = store.usage(name).map_err(|e| e.text)?;
    match limit {
        Some(l) => println!("{name}: {used} of {l} bytes used"),
        None => println!("{name}: {used} bytes used, no limit"),
    }
    Ok(())
}

/// `user file NAME FILE --set PATH | --show | --delete`.
fn user_file_command(
    settings: &Settings,
    name: &str,
    file: &str,
    set: Option<std::path::PathBuf>,
    show: bool,
    delete: bool,
) -> Result<(), String> {
    use postrider_store::user_files::UserFile;
    let kind = UserFile::from_name(file)
        .filter(|f| *f != UserFile::VacationMemory)
        .ok_or_else(|| format!("{file:?}: expected .forward, .sieve or .vacation.msg"))?;
    let ctx = open_context(settings.clone())?;
    if !ctx.accounts.exists(name) {
        return Err(format!("no such user {name:?}"));
    }
    let files = &ctx.user_files;
    match (set, show, delete) {
        (Some(path), false, false) => {
            let bytes =
                std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            files.write(name, kind, &bytes).map_err(|e| e.to_string())
        }
        (None, true, false) => {
            let bytes = files
                .read(name, kind, 16 << 20)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("{name} has no {file}"))?;
            io::stdout()
                .lock()
                .write_all(&bytes)
                .map_err(|e| e.to_string())
        }
        (None, false, true) => files.remove(name, kind).map_err(|e| e.to_string()),
        _ => Err("give one of --set PATH, --show, --delete".into()),
    }
}

/// `vacation USER`: answers the message on standard input (from a `.forward`).
fn vacation_command(
    settings: Settings,
    user: Option<String>,
    aliases: Vec<String>,
    interval: Option<String>,
) -> Result<(), String> {
    let interval = interval
        .map(|i| {
            crate::config::parse_duration(&i)
                .map(|d| d.as_secs() as i64)
                .map_err(|e| format!("--interval: {e}"))
        })
        .transpose()?;
    let ctx = open_context(settings)?;
    let args = crate::vacation::VacationArgs {
        user,
        aliases,
        interval,
        sender: None,
    };
    match crate::vacation::run(&ctx, &args, &mut io::stdin().lock())? {
        crate::vacation::VacationResult::Replied(id) => eprintln!("vacation: reply queued as {id}"),
        crate::vacation::VacationResult::NoReply(why) => eprintln!("vacation: no reply: {why:?}"),
        crate::vacation::VacationResult::NoMessage => {
            eprintln!("vacation: no ~/.vacation.msg; no reply")
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn config_option_anywhere() {
        let (a, c) = extract_config(v(&["p", "-c", "f.toml", "serve"])).unwrap();
        assert_eq!((a, c), (v(&["p", "serve"]), Some(PathBuf::from("f.toml"))));
        let (a, c) = extract_config(v(&["p", "serve", "--config=g"])).unwrap();
        assert_eq!((a, c), (v(&["p", "serve"]), Some(PathBuf::from("g"))));
        let (a, c) = extract_config(v(&["sendmail", "sendmail", "-cx", "-t", "--", "-c"])).unwrap();
        assert_eq!(
            (a, c),
            (
                v(&["sendmail", "sendmail", "-t", "--", "-c"]),
                Some(PathBuf::from("x"))
            )
        );
        assert!(extract_config(v(&["p", "-c"])).is_err());
    }
}
