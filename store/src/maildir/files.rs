//! Message files of a Maildir: unique names, writing a message durably (`tmp/`, fsync,
//! rename into `new/` or `cur/`, fsync of the directory), and reading one back as IMAP
//! and POP3 serve it (CRLF line ends).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use postrider_core::maildrop::CrlfStream;

use crate::fsutil::fsync_dir;
use crate::imap_folder::header_end;
use crate::mailbox::MessageChunks;

/// Read size for serving and scanning.
const CHUNK: usize = 64 * 1024;

/// The three directories of a Maildir.
pub(crate) const SUBDIRS: [&str; 3] = ["cur", "new", "tmp"];

/// Makes `dir` a Maildir (its `cur`, `new` and `tmp`), with `maildirfolder` when it is a
/// Maildir++ folder rather than the root.
pub(crate) fn make_maildir(dir: &Path, is_folder: bool) -> io::Result<()> {
    for sub in SUBDIRS {
        fs::create_dir_all(dir.join(sub))?;
    }
    if is_folder {
        let marker = dir.join("maildirfolder");
        if !marker.exists() {
            File::create(marker)?;
        }
    }
    Ok(())
}

/// Whether `dir` holds a Maildir (its `cur` directory at least).
pub(crate) fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir()
}

/// This host's name as Maildir names carry it (`/` and `:` escaped as maildir(5) says).
fn host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        gethostname::gethostname()
            .to_string_lossy()
            .replace('/', "\\057")
            .replace(':', "\\072")
            .replace(',', "\\054")
    })
}

/// A base name no other delivery on any host will use:
/// `SECS.M<usec>P<pid>Q<count>[_<tag>].HOST,S=<size>,W=<crlf size>` (Dovecot's form; the
/// tag, letters and digits of a queue id, lets a delivery cut off by a crash be found).
pub(crate) fn unique_base(tag: &str, size: u64, crlf_size: u64) -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    let tag: String = tag.chars().filter(char::is_ascii_alphanumeric).collect();
    let tag = if tag.is_empty() {
        String::new()
    } else {
        format!("_{tag}")
    };
    format!(
        "{}.M{}P{}Q{n}{tag}.{},S={size},W={crlf_size}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        host()
    )
}

/// A message as a Maildir file holds it: LF line ends (CRLF turned to LF).
pub(crate) fn to_stored(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = memchr::memmem::find(rest, b"\r\n") {
        out.extend_from_slice(&rest[..i]);
        out.push(b'\n');
        rest = &rest[i + 2..];
    }
    out.extend_from_slice(rest);
    out
}

/// The size of a stored message as IMAP serves it (CRLF line ends, a final line end).
pub(crate) fn crlf_size(stored: &[u8]) -> u64 {
    let mut conv = CrlfStream::plain();
    let mut out = Vec::new();
    let mut total = 0u64;
    for chunk in stored.chunks(CHUNK) {
        conv.feed(chunk, &mut out);
        total += out.len() as u64;
        out.clear();
    }
    conv.finish(&mut out);
    total + out.len() as u64
}

/// Writes `stored` as a new file of the Maildir `dir`: into `tmp/`, fsynced, then renamed
/// to `new/BASE` (no `info`) or `cur/BASE:2,INFO`, and that directory fsynced, so the
/// message is durable when this returns. `mtime` sets the file's time (INTERNALDATE).
/// Returns the file's name in its directory.
pub(crate) fn write_message(
    dir: &Path,
    base: &str,
    info: Option<&str>,
    stored: &[u8],
    mtime: Option<SystemTime>,
) -> io::Result<String> {
    let tmp = dir.join("tmp").join(base);
    let written = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(stored)?;
        if let Some(t) = mtime {
            f.set_modified(t)?;
        }
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    place(dir, &tmp, base, info)
}

/// Moves (or with `link`, hard-links) the file at `from` into the Maildir `dir` as
/// `new/BASE` or `cur/BASE:2,INFO`, and fsyncs that directory. Returns the name.
fn place(dir: &Path, from: &Path, base: &str, info: Option<&str>) -> io::Result<String> {
    let (sub, name) = match info {
        Some(letters) => ("cur", format!("{base}:2,{letters}")),
        None => ("new", base.to_string()),
    };
    let to = dir.join(sub).join(&name);
    if let Err(e) = fs::rename(from, &to) {
        let _ = fs::remove_file(from);
        return Err(e);
    }
    fsync_dir(&dir.join(sub))?;
    Ok(name)
}

/// Puts a copy of the message file `from` into the Maildir `dir`'s `tmp/` as `base`,
/// without copying its bytes when it can (a hard link, as Dovecot copies), else by
/// copying them (fsynced). [`place_staged`] then moves it into `cur/`.
pub(crate) fn stage_copy(dir: &Path, from: &Path, base: &str) -> io::Result<PathBuf> {
    let to = dir.join("tmp").join(base);
    if fs::hard_link(from, &to).is_ok() {
        return Ok(to);
    }
    if !dir.join("tmp").is_dir() {
        return Err(io::Error::new(io::ErrorKind::NotFound, "no such Maildir"));
    }
    let copied = fs::copy(from, &to).and_then(|_| File::open(&to)?.sync_all());
    if let Err(e) = copied {
        let _ = fs::remove_file(&to);
        return Err(e);
    }
    Ok(to)
}

/// Moves a file [`stage_copy`] made into `cur/` as `BASE:2,INFO` (not yet durable: the
/// caller fsyncs `cur/` once for all of them).
pub(crate) fn place_staged(dir: &Path, staged: &Path, base: &str, info: &str) -> io::Result<()> {
    fs::rename(staged, dir.join("cur").join(format!("{base}:2,{info}")))
}

/// (inode, modification time in ns) of a file or directory; zeros when missing.
pub(crate) fn stamp_of(path: &Path) -> (u64, i128) {
    fs::metadata(path).map_or((0, 0), |m| {
        (
            m.ino(),
            i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        )
    })
}

/// The current path of message file `name` in `dir`'s `cur/`.
pub(crate) fn cur_path(dir: &Path, name: &str) -> PathBuf {
    dir.join("cur").join(name)
}

/// A message file read chunk by chunk, converted to CRLF line ends.
#[derive(Debug)]
pub(crate) struct CrlfChunks {
    file: File,
    conv: Option<CrlfStream>,
}

impl CrlfChunks {
    /// Opens the file at `path`.
    pub(crate) fn open(path: &Path) -> io::Result<CrlfChunks> {
        Ok(CrlfChunks {
            file: File::open(path)?,
            conv: Some(CrlfStream::plain()),
        })
    }
}

impl MessageChunks for CrlfChunks {
    fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        let Some(conv) = self.conv.as_mut() else {
            return Ok(None);
        };
        let mut buf = vec![0u8; CHUNK];
        let n = self.file.read(&mut buf)?;
        let mut out = Vec::with_capacity(n + n / 16 + 2);
        if n == 0 {
            if let Some(conv) = self.conv.take() {
                conv.finish(&mut out);
            }
        } else {
            conv.feed(&buf[..n], &mut out);
        }
        Ok(Some(out))
    }
}

/// Runs `each` over the CRLF form of the file at `path`, chunk by chunk, while it
/// answers true.
pub(crate) fn stream(path: &Path, mut each: impl FnMut(&[u8]) -> bool) -> io::Result<()> {
    let mut chunks = CrlfChunks::open(path)?;
    while let Some(chunk) = chunks.next_chunk()? {
        if !chunk.is_empty() && !each(&chunk) {
            break;
        }
    }
    Ok(())
}

/// The whole message at `path` in CRLF form, or with `header_only` its header section
/// (up to and with the empty line), reading no further than needed.
pub(crate) fn read_crlf(path: &Path, header_only: bool) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut from: usize = 0;
    let mut end = None;
    stream(path, |chunk| {
        out.extend_from_slice(chunk);
        if header_only {
            end = header_end(&out, from.saturating_sub(3));
            from = out.len();
        }
        end.is_none()
    })?;
    if let Some(e) = end {
        out.truncate(e);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_and_served_size_agree() {
        let m = b"Subject: x\r\n\r\nline\r\nlast";
        let stored = to_stored(m);
        assert_eq!(stored, b"Subject: x\n\nline\nlast");
        assert_eq!(crlf_size(&stored), m.len() as u64 + 2);
    }

    #[test]
    fn unique_bases_differ_and_carry_sizes() {
        let a = unique_base("0AB-1", 10, 12);
        let b = unique_base("0AB-1", 10, 12);
        assert_ne!(a, b);
        assert!(a.contains("_0AB1."), "{a}");
        assert_eq!(postrider_core::maildir::size_field(&a, 'W'), Some(12));
        assert!(!a.contains(':') && !a.contains('/'));
    }
}
