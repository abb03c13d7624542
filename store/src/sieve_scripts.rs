//! Each user's named Sieve scripts, as ManageSieve (RFC 5804) manages them: any number
//! of scripts, at most one of them active. The active script is the one delivery runs
//! (in place of `~/.sieve`), and `include :personal` finds the others by name.
//!
//! The files backend ([`ScriptDir`]) keeps them under `data_dir/sieve/USER/`, owned by
//! the server (not in the user's home, so no user's file is ever written as root): one
//! file per script, its name percent-encoded, and the active script's name in `.active`.
//! The database backend keeps them in a table (`crate::pg::sieve_scripts`).

use std::fmt::Debug;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::fsutil::{fsync_dir, replace_file};

/// One stored script as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptEntry {
    /// Its name.
    pub name: String,
    /// Whether it is the active one.
    pub active: bool,
}

/// Why a change of the scripts was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptRefusal {
    /// There is no script by that name (`NONEXISTENT`).
    NoSuchScript,
    /// The script is active and cannot be deleted (`ACTIVE`).
    Active,
    /// The new name is taken (`ALREADYEXISTS`).
    NameTaken,
}

/// The users' named Sieve scripts of one backend.
pub trait SieveScripts: Send + Sync + Debug {
    /// `user`'s scripts, by name.
    fn list(&self, user: &str) -> io::Result<Vec<ScriptEntry>>;

    /// The text of `user`'s script `name`, if there is one.
    fn get(&self, user: &str, name: &str) -> io::Result<Option<Vec<u8>>>;

    /// Stores `script` as `user`'s script `name` (replacing one of that name whole).
    fn put(&self, user: &str, name: &str, script: &[u8]) -> io::Result<()>;

    /// Makes `name` the active script (None: no script is active).
    fn set_active(&self, user: &str, name: Option<&str>) -> io::Result<Result<(), ScriptRefusal>>;

    /// Deletes a script that is not active.
    fn delete(&self, user: &str, name: &str) -> io::Result<Result<(), ScriptRefusal>>;

    /// Renames a script; the active one stays active under its new name.
    fn rename(&self, user: &str, old: &str, new: &str) -> io::Result<Result<(), ScriptRefusal>>;

    /// The active script's name and text, if one is active.
    fn active(&self, user: &str) -> io::Result<Option<(String, Vec<u8>)>>;
}

/// Scripts as files under one directory, a sub-directory per user.
#[derive(Debug)]
pub struct ScriptDir {
    root: PathBuf,
    /// Changes are made one at a time (a rename and the `.active` update belong together).
    changes: Mutex<()>,
}

/// The file that names the active script.
const ACTIVE: &str = ".active";

impl ScriptDir {
    /// Scripts under `root` (`data_dir/sieve`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            changes: Mutex::new(()),
        }
    }

    fn user_dir(&self, user: &str) -> io::Result<PathBuf> {
        if user.is_empty() || user.starts_with('.') || user.contains(['/', '\0']) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("not a user name: {user:?}"),
            ));
        }
        Ok(self.root.join(user))
    }

    fn script_path(&self, user: &str, name: &str) -> io::Result<PathBuf> {
        Ok(self.user_dir(user)?.join(file_name(name)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.changes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn active_name(&self, user: &str) -> io::Result<Option<String>> {
        match fs::read(self.user_dir(user)?.join(ACTIVE)) {
            Ok(b) => Ok(String::from_utf8(b).ok().filter(|n| !n.is_empty())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn write_active(&self, user: &str, name: Option<&str>) -> io::Result<()> {
        let dir = self.user_dir(user)?;
        let path = dir.join(ACTIVE);
        match name {
            Some(n) => {
                fs::create_dir_all(&dir)?;
                replace_file(&path, n.as_bytes())?;
            }
            None => match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            },
        }
        fsync_dir(&dir)
    }
}

/// A script's file name: its name with every byte other than letters, digits, `-` and
/// `_` written `%XX`, then `.sieve` (so no name can reach outside the directory or clash
/// with `.active`).
fn file_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 6);
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out.push_str(".sieve");
    out
}

/// The script name of a file name made by [`file_name`].
fn script_name(file: &str) -> Option<String> {
    let stem = file.strip_suffix(".sieve")?;
    let mut bytes = Vec::with_capacity(stem.len());
    let mut it = stem.bytes();
    while let Some(b) = it.next() {
        if b == b'%' {
            let hex = [it.next()?, it.next()?];
            let hex = std::str::from_utf8(&hex).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
        } else {
            bytes.push(b);
        }
    }
    String::from_utf8(bytes).ok()
}

fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

impl SieveScripts for ScriptDir {
    fn list(&self, user: &str) -> io::Result<Vec<ScriptEntry>> {
        let active = self.active_name(user)?;
        let entries = match fs::read_dir(self.user_dir(user)?) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry?;
            if let Some(name) = entry.file_name().to_str().and_then(script_name) {
                let is_active = active.as_deref() == Some(name.as_str());
                out.push(ScriptEntry {
                    name,
                    active: is_active,
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn get(&self, user: &str, name: &str) -> io::Result<Option<Vec<u8>>> {
        read_optional(&self.script_path(user, name)?)
    }

    fn put(&self, user: &str, name: &str, script: &[u8]) -> io::Result<()> {
        let _serial = self.lock();
        let dir = self.user_dir(user)?;
        fs::create_dir_all(&dir)?;
        replace_file(&dir.join(file_name(name)), script)?;
        fsync_dir(&dir)
    }

    fn set_active(&self, user: &str, name: Option<&str>) -> io::Result<Result<(), ScriptRefusal>> {
        let _serial = self.lock();
        if let Some(n) = name {
            if !self.script_path(user, n)?.exists() {
                return Ok(Err(ScriptRefusal::NoSuchScript));
            }
        }
        self.write_active(user, name).map(Ok)
    }

    fn delete(&self, user: &str, name: &str) -> io::Result<Result<(), ScriptRefusal>> {
        let _serial = self.lock();
        if self.active_name(user)?.as_deref() == Some(name) {
            return Ok(Err(ScriptRefusal::Active));
        }
        match fs::remove_file(self.script_path(user, name)?) {
            Ok(()) => fsync_dir(&self.user_dir(user)?).map(Ok),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Err(ScriptRefusal::NoSuchScript)),
            Err(e) => Err(e),
        }
    }

    fn rename(&self, user: &str, old: &str, new: &str) -> io::Result<Result<(), ScriptRefusal>> {
        let _serial = self.lock();
        let from = self.script_path(user, old)?;
        let to = self.script_path(user, new)?;
        if !from.exists() {
            return Ok(Err(ScriptRefusal::NoSuchScript));
        }
        if to.exists() {
            return Ok(Err(ScriptRefusal::NameTaken));
        }
        // The new name is linked first, then `.active` moved, then the old name removed:
        // a crash in between leaves both names, never an active script that is missing.
        fs::hard_link(&from, &to)?;
        if self.active_name(user)?.as_deref() == Some(old) {
            self.write_active(user, Some(new))?;
        }
        fs::remove_file(&from)?;
        fsync_dir(&self.user_dir(user)?).map(Ok)
    }

    fn active(&self, user: &str) -> io::Result<Option<(String, Vec<u8>)>> {
        let Some(name) = self.active_name(user)? else {
            return Ok(None);
        };
        Ok(self.get(user, &name)?.map(|text| (name, text)))
    }
}

/// The rules every [`SieveScripts`] backend must follow, checked on a store without
/// scripts for alice and bob; the problems found (empty: it conforms).
pub fn sieve_script_rules(s: &dyn SieveScripts) -> Vec<String> {
    match check_rules(s) {
        Ok(()) => Vec::new(),
        Err(e) => vec![e],
    }
}

fn check_rules(s: &dyn SieveScripts) -> Result<(), String> {
    fn e(what: &'static str) -> impl Fn(io::Error) -> String {
        move |err| format!("{what}: {err}")
    }
    let ensure = |ok: bool, why: &str| if ok { Ok(()) } else { Err(why.to_string()) };
    ensure(
        s.list("alice").map_err(e("list"))?.is_empty(),
        "scripts before any was put",
    )?;
    let odd = "../Ünïcode \"name\" %41.sieve";
    s.put("alice", "main", b"keep;\r\n").map_err(e("put"))?;
    s.put("alice", odd, b"discard;\r\n").map_err(e("put odd"))?;
    s.put("alice", "main", b"stop;\r\n").map_err(e("replace"))?;
    ensure(
        s.get("alice", "main").map_err(e("get"))? == Some(b"stop;\r\n".to_vec()),
        "a replaced script is not read back whole",
    )?;
    ensure(
        s.get("alice", odd).map_err(e("get odd"))? == Some(b"discard;\r\n".to_vec()),
        "a name with slashes, quotes and UTF-8 is not kept as it is",
    )?;
    ensure(
        s.active("alice").map_err(e("active"))?.is_none(),
        "active before SETACTIVE",
    )?;
    ensure(
        s.set_active("alice", Some("none"))
            .map_err(e("set_active"))?
            == Err(ScriptRefusal::NoSuchScript),
        "a missing script was made active",
    )?;
    s.set_active("alice", Some("main"))
        .map_err(e("set_active"))?
        .map_err(|r| format!("{r:?}"))?;
    let listed = s.list("alice").map_err(e("list"))?;
    ensure(
        listed.len() == 2
            && listed.iter().any(|x| x.name == "main" && x.active)
            && listed.iter().any(|x| x.name == odd && !x.active),
        "LISTSCRIPTS does not show the two scripts and the active one",
    )?;
    ensure(
        s.delete("alice", "main").map_err(e("delete"))? == Err(ScriptRefusal::Active),
        "the active script was deleted",
    )?;
    ensure(
        s.rename("alice", "main", odd).map_err(e("rename"))? == Err(ScriptRefusal::NameTaken),
        "a rename overwrote another script",
    )?;
    s.rename("alice", "main", "renamed")
        .map_err(e("rename"))?
        .map_err(|r| format!("{r:?}"))?;
    ensure(
        s.active("alice").map_err(e("active"))? == Some(("renamed".into(), b"stop;\r\n".to_vec())),
        "the active script did not stay active when renamed",
    )?;
    ensure(
        s.list("bob").map_err(e("list bob"))?.is_empty(),
        "bob sees alice's scripts",
    )?;
    ensure(
        s.get("bob", "renamed").map_err(e("get bob"))?.is_none(),
        "bob reads alice's script",
    )?;
    s.delete("alice", odd)
        .map_err(e("delete"))?
        .map_err(|r| format!("{r:?}"))?;
    ensure(
        s.delete("alice", odd).map_err(e("delete again"))? == Err(ScriptRefusal::NoSuchScript),
        "a deleted script was deleted twice",
    )?;
    s.set_active("alice", None)
        .map_err(e("deactivate"))?
        .map_err(|r| format!("{r:?}"))?;
    ensure(
        s.active("alice").map_err(e("active"))?.is_none(),
        "still active after SETACTIVE \"\"",
    )?;
    s.delete("alice", "renamed")
        .map_err(e("delete"))?
        .map_err(|r| format!("{r:?}"))?;
    ensure(
        s.list("alice").map_err(e("list"))?.is_empty(),
        "scripts left after deleting all",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_survive_the_file_name_encoding() {
        for name in ["main", "a/b", "..", ".active", "Ünï %41", "x.sieve", ""] {
            let f = file_name(name);
            assert!(
                !f.contains('/') && !f.starts_with('.') || name.is_empty(),
                "{f}"
            );
            assert_eq!(script_name(&f).as_deref(), Some(name));
        }
        assert_eq!(script_name(".active"), None);
        assert_eq!(script_name("%zz.sieve"), None);
    }

    #[test]
    fn script_dir_conforms() {
        let dir = std::env::temp_dir().join(format!("postrider-scripts-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let s = ScriptDir::new(&dir);
        assert_eq!(sieve_script_rules(&s), Vec::<String>::new());
        assert!(s.list("../etc").is_err() && s.put(".x", "a", b"").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
