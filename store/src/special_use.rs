//! The special-use attributes CREATE gave a user's folders in the files backend (RFC 6154
//! `CREATE ... (USE (...))`): `data_dir/imap/USER/special-use`, one `NAME<TAB>ATTR ATTR`
//! line per folder, rewritten whole and renamed into place on each change.

use std::fs;
use std::io;
use std::path::PathBuf;

/// One user's special-use list.
pub(crate) struct SpecialUses {
    path: PathBuf,
}

impl SpecialUses {
    /// The list kept at `path`.
    pub(crate) fn new(path: PathBuf) -> Self {
        Self { path }
    }

    /// (folder, attributes), in the order they were given.
    pub(crate) fn list(&self) -> Vec<(String, Vec<String>)> {
        let text = fs::read_to_string(&self.path).unwrap_or_default();
        text.lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(n, u)| (n.to_string(), u.split(' ').map(str::to_string).collect()))
            .collect()
    }

    /// Applies `change` and writes the list back if it changed.
    pub(crate) fn edit(
        &self,
        change: impl FnOnce(&mut Vec<(String, Vec<String>)>),
    ) -> io::Result<()> {
        let mut uses = self.list();
        let before = uses.clone();
        change(&mut uses);
        if uses == before {
            return Ok(());
        }
        let text: String = uses
            .iter()
            .map(|(n, u)| format!("{n}\t{}\n", u.join(" ")))
            .collect();
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("tmp");
        fs::write(&tmp, text)?;
        fs::rename(tmp, &self.path)
    }

    /// Gives folder `name` these attributes (CREATE ... USE), replacing any it had.
    pub(crate) fn set(&self, name: &str, uses: &[String]) -> io::Result<()> {
        self.edit(|all| {
            all.retain(|(n, _)| n != name);
            all.push((name.to_string(), uses.to_vec()));
        })
    }

    /// Forgets the attributes of folder `name` (DELETE).
    pub(crate) fn forget(&self, name: &str) -> io::Result<()> {
        self.edit(|all| all.retain(|(n, _)| n != name))
    }

    /// Folder `from` and the folders below it are called `to...` now.
    pub(crate) fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let inside = format!("{from}/");
        self.edit(|all| {
            for (n, _) in all.iter_mut() {
                if n == from {
                    *n = to.to_string();
                } else if let Some(rest) = n.strip_prefix(&inside) {
                    *n = format!("{to}/{rest}");
                }
            }
        })
    }
}
