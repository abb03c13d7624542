//! The server's log: `log_format = "text"` (Postfix-like lines, the queue id first) or
//! `"json"` (one object per line: `time`, `level`, `queue_id` when the line is about a
//! message, `message`), written to stderr one `write(2)` per line.

use std::fmt;
use std::io::{self, IsTerminal};
use std::sync::OnceLock;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the log at `level` in `format` (once per process); [`set_level`] changes
/// the level later (a reload).
pub fn init(level: &str, format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_writer(|| LogWriter)
        .with_target(false)
        .with_env_filter(filter(level));
    let _ = match format {
        LogFormat::Text => {
            let b = builder
                .with_ansi(io::stderr().is_terminal())
                .with_filter_reloading();
            keep_handle(b.reload_handle());
            b.try_init()
        }
        LogFormat::Json => {
            let b = builder
                .with_ansi(false)
                .event_format(JsonLines)
                .with_filter_reloading();
            keep_handle(b.reload_handle());
            b.try_init()
        }
    };
}

/// Keeps the handle that changes the installed log's filter for [`set_level`].
fn keep_handle<S: Subscriber + 'static>(handle: tracing_subscriber::reload::Handle<EnvFilter, S>) {
    let set: Box<SetFilter> = Box::new(move |f| handle.reload(f).map_err(|e| e.to_string()));
    let _ = LEVEL.set(set);
}

/// Replaces the log's filter.
type SetFilter = dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync;

/// How the installed log's level is changed.
static LEVEL: OnceLock<Box<SetFilter>> = OnceLock::new();

/// The filter for `level`: rustls reports peers' mistakes (an IP address as TLS SNI, as
/// msmtp sends) as warnings on every connection; only its errors belong in a mail log.
fn filter(level: &str) -> EnvFilter {
    EnvFilter::try_new(format!("{level},rustls=error,tokio_postgres=warn"))
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Changes the level of the log [`init`] installed (`log` in a reloaded configuration).
pub fn set_level(level: &str) -> Result<(), String> {
    match LEVEL.get() {
        Some(set) => set(filter(level)),
        None => Err("no log installed".into()),
    }
}

/// Writes each log line to stderr with one `write(2)` of its own, without the standard
/// library's stderr lock: connection threads logging at once contended for it (a futex
/// call per line under load), while the kernel already keeps one `write` whole.
struct LogWriter;

impl io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        use std::os::fd::AsFd;
        Ok(rustix::io::write(io::stderr().as_fd(), buf)?)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The message of an event (and its other fields, as `name=value` after it).
#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0.insert_str(0, &format!("{value:?}"));
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            self.0.push_str(&format!(" {}={value}", field.name()));
        }
    }
}

/// A line about one message starts with its queue id (`1EF83F17CD7B1195: to=<...>`):
/// (the id, the rest).
pub fn split_queue_id(line: &str) -> (Option<&str>, &str) {
    match line.split_once(": ") {
        Some((id, rest)) if postrider_store::queue::valid_id(id) && id.len() >= 12 => {
            (Some(id), rest)
        }
        _ => (None, line),
    }
}

/// One JSON object per line.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut message = Message::default();
        event.record(&mut message);
        let (queue_id, text) = split_queue_id(&message.0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let c = postrider_core::imf::datetime::WallClock::utc(now.as_secs() as i64).civil();
        let mut line = serde_json::json!({
            "time": format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                c.year, c.month, c.day, c.hour, c.minute, c.second, now.subsec_micros()
            ),
            "level": event.metadata().level().as_str(),
            "message": text,
        });
        if let Some(id) = queue_id {
            line["queue_id"] = serde_json::Value::from(id);
        }
        writeln!(writer, "{line}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_about_a_message_give_its_queue_id() {
        assert_eq!(
            split_queue_id("1EF83F17CD7B1195: to=<bob@b.test>, status=sent"),
            (Some("1EF83F17CD7B1195"), "to=<bob@b.test>, status=sent")
        );
        assert_eq!(
            split_queue_id("imap login: user=alice"),
            (None, "imap login: user=alice")
        );
        assert_eq!(split_queue_id("ABC: short"), (None, "ABC: short"));
    }
}
