//! Webmail logins: random session ids (the cookie) mapped to the account and the
//! session's CSRF token, expiring after inactivity and after a fixed lifetime.
//!
//! Sessions live in this process's memory: a restart logs everyone out, and with several
//! nodes a browser must keep talking to the node it logged in on.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "postrider_session";

/// The cookie holding the login form's CSRF token before there is a session.
pub const LOGIN_COOKIE: &str = "postrider_login";

/// A session unused this long is over.
const IDLE_LIMIT: Duration = Duration::from_secs(30 * 60);

/// A session this old is over, however busy.
const LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// The most sessions kept; the least recently used go first beyond it.
const MAX_SESSIONS: usize = 10_000;

/// One logged-in browser.
#[derive(Debug, Clone)]
pub struct WebLogin {
    /// The account.
    pub user: String,
    /// The token every changing form of this session must carry.
    pub csrf: String,
    created: Instant,
    last_seen: Instant,
}

/// Every webmail session of this process.
#[derive(Debug)]
pub struct WebSessions {
    map: Mutex<HashMap<String, WebLogin>>,
    rng: SystemRandom,
}

impl Default for WebSessions {
    fn default() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            rng: SystemRandom::new(),
        }
    }
}

impl WebSessions {
    /// A new random token (256 bits, URL-safe base64), for session ids and CSRF tokens;
    /// None if the system's random source fails.
    pub fn token(&self) -> Option<String> {
        let mut bytes = [0u8; 32];
        self.rng.fill(&mut bytes).ok()?;
        Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Starts a session for `user`; returns its id and CSRF token.
    pub fn create(&self, user: &str, now: Instant) -> Option<(String, String)> {
        let id = self.token()?;
        let csrf = self.token()?;
        let mut map = self.lock();
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| is_live(s, now));
            if map.len() >= MAX_SESSIONS {
                let oldest = map
                    .iter()
                    .min_by_key(|(_, s)| s.last_seen)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    map.remove(&k);
                }
            }
        }
        map.insert(
            id.clone(),
            WebLogin {
                user: user.to_string(),
                csrf: csrf.clone(),
                created: now,
                last_seen: now,
            },
        );
        Some((id, csrf))
    }

    /// The live session with this id (its inactivity clock restarted), if any.
    pub fn get(&self, id: &str, now: Instant) -> Option<WebLogin> {
        let mut map = self.lock();
        let live = map.get(id).is_some_and(|s| is_live(s, now));
        if !live {
            map.remove(id);
            return None;
        }
        let s = map.get_mut(id)?;
        s.last_seen = now;
        Some(s.clone())
    }

    /// Ends a session (logout).
    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Ends every session of `user` (password changed, account deleted).
    pub fn remove_user(&self, user: &str) {
        self.lock().retain(|_, s| s.user != user);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, WebLogin>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn is_live(s: &WebLogin, now: Instant) -> bool {
    now.saturating_duration_since(s.last_seen) < IDLE_LIMIT
        && now.saturating_duration_since(s.created) < LIFETIME
}

/// Whether `given` is `expected`, compared in time independent of where they differ.
pub fn same_token(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_when_idle_or_old_and_on_logout() {
        let sessions = WebSessions::default();
        let t0 = Instant::now();
        let (id, csrf) = sessions.create("alice", t0).expect("random");
        assert_eq!(id.len(), 43);
        assert_ne!(id, csrf);
        let got = sessions
            .get(&id, t0 + Duration::from_secs(60))
            .expect("live");
        assert_eq!(
            (got.user.as_str(), got.csrf.as_str()),
            ("alice", csrf.as_str())
        );
        // Each use restarts the idle clock, but not the lifetime.
        let mut t = t0;
        while t < t0 + LIFETIME - IDLE_LIMIT {
            t += IDLE_LIMIT - Duration::from_secs(1);
            assert!(sessions.get(&id, t).is_some());
        }
        assert!(sessions.get(&id, t0 + LIFETIME).is_none());
        let (idle, _) = sessions.create("bob", t0).expect("random");
        assert!(sessions.get(&idle, t0 + IDLE_LIMIT).is_none());
        let (gone, _) = sessions.create("carol", t0).expect("random");
        sessions.remove_user("carol");
        assert!(sessions.get(&gone, t0).is_none());
        assert!(sessions.get("forged", t0).is_none());
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abd", "abc"));
        assert!(!same_token("ab", "abc"));
        assert!(!same_token("", "abc"));
    }
}
