//! Storage limits per account (`postrider user quota NAME SIZE`): with the files backend
//! the file `data_dir/quotas` (`name octets` per line, replaced whole under a lock), with
//! PostgreSQL the `quotas` table. What an account uses is its messages' RFC822.SIZE
//! added up over every folder, as IMAP QUOTA (RFC 9208) reports it.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::fsutil::{lock_exclusive, replace_file};

/// A size as `user quota` takes it: octets, or with `K`, `M`, `G` (binary units, either
/// case); `none` is no limit.
pub fn parse_limit(text: &str) -> Result<Option<u64>, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid size {text:?}: expected e.g. 500M, 2G or none"))?;
    let factor: u64 = match unit.to_ascii_uppercase().as_str() {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return Err(format!("invalid size {text:?}: unit must be K, M or G")),
    };
    n.checked_mul(factor)
        .map(Some)
        .ok_or_else(|| format!("size {text:?} is too large"))
}

/// The limits file of the files backend.
#[derive(Debug, Clone)]
pub struct QuotaFile {
    path: PathBuf,
}

impl QuotaFile {
    /// The limits kept in `data_dir/quotas`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join("quotas"),
        }
    }

    fn read_all(&self) -> io::Result<BTreeMap<String, u64>> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(e) => return Err(e),
        };
        Ok(text
            .lines()
            .filter_map(|l| {
                let (name, n) = l.split_once(' ')?;
                Some((name.to_string(), n.trim().parse().ok()?))
            })
            .collect())
    }

    /// `user`'s limit in octets, if any.
    pub fn get(&self, user: &str) -> io::Result<Option<u64>> {
        Ok(self.read_all()?.get(user).copied())
    }

    /// Sets (or with None removes) `user`'s limit.
    pub fn set(&self, user: &str, limit: Option<u64>) -> io::Result<()> {
        let mut lock_path = self.path.as_os_str().to_owned();
        lock_path.push(".lock");
        let _lock = lock_exclusive(Path::new(&lock_path))?;
        let mut all = self.read_all()?;
        match limit {
            Some(n) => all.insert(user.to_string(), n),
            None => all.remove(user),
        };
        let text: String = all.iter().map(|(u, n)| format!("{u} {n}\n")).collect();
        replace_file(&self.path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_in_binary_units() {
        assert_eq!(parse_limit("100K"), Ok(Some(102_400)));
        assert_eq!(parse_limit("20m"), Ok(Some(20 << 20)));
        assert_eq!(parse_limit("2G"), Ok(Some(2 << 30)));
        assert_eq!(parse_limit("4096"), Ok(Some(4096)));
        assert_eq!(parse_limit("none"), Ok(None));
        assert!(parse_limit("5T").is_err());
        assert!(parse_limit("-1").is_err());
        assert!(parse_limit("99999999999999999999G").is_err());
    }

    #[test]
    fn the_file_keeps_other_accounts() {
        let dir = std::env::temp_dir().join(format!("postrider-quota-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let q = QuotaFile::new(&dir);
        assert_eq!(q.get("alice").unwrap(), None);
        q.set("alice", Some(1000)).unwrap();
        q.set("bob", Some(5)).unwrap();
        q.set("alice", None).unwrap();
        assert_eq!(q.get("alice").unwrap(), None);
        assert_eq!(q.get("bob").unwrap(), Some(5));
        fs::remove_dir_all(&dir).unwrap();
    }
}
