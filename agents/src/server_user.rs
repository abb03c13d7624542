//! The server's own identity. Started as root with `user = "postrider"`, `serve` binds
//! its listeners (ports below 1024 need root), then becomes that user for good, keeping
//! only `CAP_NET_BIND_SERVICE` so a reload can open another privileged port; every other
//! command becomes it at once. The data directory belongs to that user (it is created
//! so, and refused when someone else owns it), so whatever the server and the commands
//! write stays readable by the server. With file accounts nothing else needs root:
//! mailboxes are the server's files, and programs and file targets of aliases and
//! `.forward` files run as the server's unprivileged user. System accounts need root to
//! deliver as each user and are refused with `user` (see the configuration check).
//!
//! The identity is changed with the thread-level system calls while the process has a
//! single thread (before any runtime starts), so every thread started later inherits it.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rustix::process::{Gid, Uid};
use rustix::thread::{CapabilitySet, CapabilitySets};

use crate::config::Settings;
use crate::privileges::running_as_root;
use postrider_store::accounts::SystemAccounts;

/// Whether this process should become `[user]` now: started as root with a `user` set.
pub fn should_drop(settings: &Settings) -> bool {
    running_as_root() && !settings.config.user.is_empty()
}

/// Becomes the configured user (see the module documentation); `keep_bind` keeps the
/// right to bind ports below 1024. Must be called while the process has one thread.
pub fn become_user(settings: &Settings, keep_bind: bool) -> Result<(), String> {
    let name = &settings.config.user;
    let entry = SystemAccounts::default()
        .lookup(name)
        .ok_or_else(|| format!("user: {name:?} is not a user of this system (/etc/passwd)"))?;
    if entry.uid == 0 {
        return Err(format!(
            "user: {name:?} is root; it must be an unprivileged user"
        ));
    }
    own_data_dir(&settings.config.data_dir, name, entry.uid, entry.gid)?;
    let groups = groups_of(name, entry.gid);
    let fail = |what: &str, e: rustix::io::Errno| format!("cannot become {name} ({what}): {e}");
    rustix::thread::set_thread_groups(&groups).map_err(|e| fail("groups", e))?;
    if keep_bind {
        rustix::thread::set_keep_capabilities(true).map_err(|e| fail("keep capabilities", e))?;
    }
    let (uid, gid) = (Uid::from_raw(entry.uid), Gid::from_raw(entry.gid));
    rustix::thread::set_thread_res_gid(gid, gid, gid).map_err(|e| fail("gid", e))?;
    rustix::thread::set_thread_res_uid(uid, uid, uid).map_err(|e| fail("uid", e))?;
    if keep_bind {
        let bind = CapabilitySet::NET_BIND_SERVICE;
        rustix::thread::set_capabilities(
            None,
            CapabilitySets {
                effective: bind,
                permitted: bind,
                inheritable: CapabilitySet::empty(),
            },
        )
        .map_err(|e| fail("capabilities", e))?;
        rustix::thread::set_keep_capabilities(false).map_err(|e| fail("keep capabilities", e))?;
    }
    if let Err(e) = fs::read_dir(&settings.config.data_dir) {
        return Err(format!(
            "{name} cannot open data_dir {}: {e} (every directory above it must let {name} through)",
            settings.config.data_dir.display()
        ));
    }
    tracing::info!("running as {name} (uid {}, gid {})", entry.uid, entry.gid);
    Ok(())
}

/// Makes `data_dir` (created when missing) belong to `user`; refuses one that belongs to
/// someone else, naming the fix.
fn own_data_dir(data_dir: &Path, user: &str, uid: u32, gid: u32) -> Result<(), String> {
    let shown = data_dir.display();
    match fs::metadata(data_dir) {
        Ok(meta) if meta.uid() == uid => Ok(()),
        Ok(meta) => Err(format!(
            "data_dir {shown} belongs to uid {}, not to {user}: run `chown -R {user}: {shown}`",
            meta.uid()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::os::unix::fs::DirBuilderExt;
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(data_dir)
                .and_then(|()| std::os::unix::fs::chown(data_dir, Some(uid), Some(gid)))
                .map_err(|e| format!("cannot create {shown} for {user}: {e}"))
        }
        Err(e) => Err(format!("{shown}: {e}")),
    }
}

/// `user`'s groups: its primary group and those /etc/group lists it in (so a key in
/// group ssl-cert can be read when the user is a member).
fn groups_of(user: &str, primary: u32) -> Vec<Gid> {
    let mut gids = vec![primary];
    let text = fs::read_to_string("/etc/group").unwrap_or_default();
    for line in text.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() == 4 && f[3].split(',').any(|m| m == user) {
            if let Ok(gid) = f[2].parse::<u32>() {
                if !gids.contains(&gid) {
                    gids.push(gid);
                }
            }
        }
    }
    gids.into_iter().map(Gid::from_raw).collect()
}
