//! Login failure penalties across connections and protocols, as Dovecot's auth penalty:
//! a client (an IPv4 address or an IPv6 /64) and an account that failed recently have
//! their next answers held back, for a time that doubles with each failure up to a
//! maximum. The table is pure: the runtime owns one behind a lock, passes the time in,
//! asks [`PenaltyTable::admit`] when a login arrives and reports the outcome with
//! [`PenaltyTable::record`].
//!
//! - **Per client**, answers are also *serialised*: each attempt takes the client's next
//!   slot, so parallel connections from one client get one answer per penalty period,
//!   whatever their number. Once the client's queue reaches the maximum hold, further
//!   attempts are answered "failed" after the maximum hold without checking the password
//!   (nothing can be learnt from them).
//! - **Per account**, the hold is not serialised (it never grows past the maximum): an
//!   attacker spread over many addresses slows down every guess, but the real user, from
//!   another address, always gets in after at most the maximum hold.
//!
//! Entries are forgotten after `forget_after` without a failure, and a success clears the
//! client's and the account's entries.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How long a session holds its answer to its `failures`-th failed login: `base` times
/// the number of failures of the session (at most 30), or the runtime's cross-connection
/// `penalty` when that is longer.
pub fn failed_login_delay(base: Duration, failures: u32, penalty: Duration) -> Duration {
    base.saturating_mul(failures.min(30)).max(penalty)
}

/// How penalties grow and how much is remembered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PenaltyConfig {
    /// The hold after the first failure; it doubles with each further failure.
    pub base: Duration,
    /// The longest hold (Dovecot: 15 s). Zero turns penalties off.
    pub max: Duration,
    /// Failures older than this are forgotten.
    pub forget_after: Duration,
    /// Most clients and most accounts remembered (the oldest are dropped first).
    pub max_entries: usize,
}

impl Default for PenaltyConfig {
    /// 1 s doubling to 15 s, forgotten after an hour, 100,000 entries of each kind.
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max: Duration::from_secs(15),
            forget_after: Duration::from_secs(3600),
            max_entries: 100_000,
        }
    }
}

/// What to do with one login attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// How long to hold the answer back, whatever it is.
    pub hold: Duration,
    /// False when the client has too many attempts waiting: answer "failed" without
    /// checking the password.
    pub check: bool,
    /// Recent failures from this client.
    pub client_failures: u32,
    /// Recent failures against this account.
    pub account_failures: u32,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure: Instant,
    /// When the client's latest admitted answer is released.
    next_slot: Instant,
}

/// The penalties of one server process.
#[derive(Debug, Clone)]
pub struct PenaltyTable {
    config: PenaltyConfig,
    clients: HashMap<IpAddr, Entry>,
    accounts: HashMap<String, Entry>,
}

/// The key of a client: the address itself for IPv4, its /64 for IPv6 (one subscriber).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::from([s[0], s[1], s[2], s[3], 0, 0, 0, 0])
        }
    }
}

impl PenaltyTable {
    /// An empty table.
    pub fn new(config: PenaltyConfig) -> Self {
        Self {
            config,
            clients: HashMap::new(),
            accounts: HashMap::new(),
        }
    }

    /// New delays (a configuration reload); penalties already earned stay.
    pub fn set_config(&mut self, config: PenaltyConfig) {
        self.config = config;
    }

    /// The hold after `failures` recent failures.
    fn delay(&self, failures: u32) -> Duration {
        if failures == 0 || self.config.max.is_zero() {
            return Duration::ZERO;
        }
        let doubled = self
            .config
            .base
            .saturating_mul(1u32 << (failures - 1).min(20));
        doubled.min(self.config.max)
    }

    /// Call when a login for `account` arrives from `client`, before answering it.
    pub fn admit(&mut self, now: Instant, client: IpAddr, account: &str) -> Admission {
        if self.config.max.is_zero() {
            return Admission {
                hold: Duration::ZERO,
                check: true,
                client_failures: 0,
                account_failures: 0,
            };
        }
        let account = account.to_ascii_lowercase();
        let key = client_key(client);
        let limit = self.config.forget_after;
        let stale = |e: &Entry| now.saturating_duration_since(e.last_failure) >= limit;
        if self.clients.get(&key).is_some_and(stale) {
            self.clients.remove(&key);
        }
        if self.accounts.get(&account).is_some_and(stale) {
            self.accounts.remove(&account);
        }
        let account_failures = self.accounts.get(&account).map_or(0, |e| e.failures);
        let account_release = now + self.delay(account_failures);
        let (client_failures, client_release, check) = match self.clients.get(&key).copied() {
            None => (0, now, true),
            Some(e) => {
                let d = self.delay(e.failures);
                let start = e.next_slot.max(now);
                let queued = start.saturating_duration_since(now);
                if queued >= self.config.max {
                    // The queue is full: hold as long as allowed, then refuse unchecked.
                    (e.failures, now + self.config.max, false)
                } else {
                    let release = start + d;
                    if let Some(entry) = self.clients.get_mut(&key) {
                        entry.next_slot = release;
                    }
                    (e.failures, release, true)
                }
            }
        };
        Admission {
            hold: client_release
                .max(account_release)
                .saturating_duration_since(now),
            check,
            client_failures,
            account_failures,
        }
    }

    /// Call with the outcome of an admitted attempt (`success`: the password was right).
    pub fn record(&mut self, now: Instant, client: IpAddr, account: &str, success: bool) {
        let account = account.to_ascii_lowercase();
        let key = client_key(client);
        if success {
            self.clients.remove(&key);
            self.accounts.remove(&account);
            return;
        }
        let max = self.config.max_entries;
        let fresh = Entry {
            failures: 0,
            last_failure: now,
            next_slot: now,
        };
        if !self.clients.contains_key(&key) {
            self.make_room(now, max, true);
        }
        let e = self.clients.entry(key).or_insert(fresh);
        e.failures = e.failures.saturating_add(1);
        e.last_failure = now;
        if !self.accounts.contains_key(&account) {
            self.make_room(now, max, false);
        }
        let e = self.accounts.entry(account).or_insert(fresh);
        e.failures = e.failures.saturating_add(1);
        e.last_failure = now;
    }

    /// Drops forgotten entries, then the oldest one, while the map is full.
    fn make_room(&mut self, now: Instant, max: usize, clients: bool) {
        let len = if clients {
            self.clients.len()
        } else {
            self.accounts.len()
        };
        if len < max {
            return;
        }
        let limit = self.config.forget_after;
        let fresh = |e: &Entry| now.saturating_duration_since(e.last_failure) < limit;
        if clients {
            self.clients.retain(|_, e| fresh(e));
            if self.clients.len() >= max {
                if let Some(k) = oldest(&self.clients) {
                    self.clients.remove(&k);
                }
            }
        } else {
            self.accounts.retain(|_, e| fresh(e));
            if self.accounts.len() >= max {
                if let Some(k) = oldest(&self.accounts) {
                    self.accounts.remove(&k);
                }
            }
        }
    }
}

fn oldest<K: Clone + std::hash::Hash + Eq>(map: &HashMap<K, Entry>) -> Option<K> {
    map.iter()
        .min_by_key(|(_, e)| e.last_failure)
        .map(|(k, _)| k.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[test]
    fn holds_double_with_failures_up_to_the_maximum() {
        let mut t = PenaltyTable::new(PenaltyConfig::default());
        let mut now = Instant::now();
        let mut holds = Vec::new();
        for _ in 0..7 {
            // One attempt after another: each answered, then the next one sent.
            let a = t.admit(now, ip(1), "alice");
            holds.push(a.hold.as_secs());
            now += a.hold;
            t.record(now, ip(1), "alice", false);
        }
        assert_eq!(holds, [0, 1, 2, 4, 8, 15, 15]);
    }

    #[test]
    fn parallel_attempts_from_one_client_are_answered_one_per_period_then_refused() {
        let mut t = PenaltyTable::new(PenaltyConfig::default());
        let now = Instant::now();
        for _ in 0..4 {
            t.record(now, ip(1), "x", false); // 4 failures: 8 s per attempt
        }
        let later = now + 3600 * S - S;
        let a: Vec<Admission> = (0..4)
            .map(|i| t.admit(later, ip(1), &format!("user{i}")))
            .collect();
        assert_eq!(a[0].hold, 8 * S);
        assert_eq!(a[1].hold, 16 * S, "the next slot, one period later");
        assert!(a[0].check && a[1].check);
        assert!(!a[2].check, "the queue is full: refused unchecked");
        assert_eq!(a[2].hold, 15 * S);
    }

    #[test]
    fn the_real_user_from_elsewhere_waits_at_most_the_maximum() {
        let mut t = PenaltyTable::new(PenaltyConfig::default());
        let now = Instant::now();
        for i in 0..200u8 {
            t.record(now, ip(i), "alice", false);
        }
        let a = t.admit(now, ip(250), "alice");
        assert!(a.check);
        assert_eq!(a.hold, 15 * S);
        assert_eq!(a.account_failures, 200);
        t.record(now + a.hold, ip(250), "alice", true);
        assert_eq!(t.admit(now + 16 * S, ip(250), "Alice").hold, Duration::ZERO);
    }

    #[test]
    fn failures_are_forgotten_and_a_success_clears_the_client() {
        let mut t = PenaltyTable::new(PenaltyConfig::default());
        let now = Instant::now();
        t.record(now, ip(1), "alice", false);
        t.record(now, ip(1), "alice", false);
        assert_eq!(t.admit(now, ip(1), "bob").hold, 2 * S);
        assert_eq!(
            t.admit(now + 3601 * S, ip(1), "bob").hold,
            Duration::ZERO,
            "forgotten"
        );
        t.record(now, ip(2), "carol", false);
        t.record(now, ip(2), "dave", true);
        assert_eq!(t.admit(now, ip(2), "erin").hold, Duration::ZERO);
    }

    #[test]
    fn an_ipv6_slash_64_is_one_client_and_tables_are_bounded() {
        let mut t = PenaltyTable::new(PenaltyConfig {
            max_entries: 8,
            ..PenaltyConfig::default()
        });
        let now = Instant::now();
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        t.record(now, a, "u", false);
        assert_eq!(t.admit(now, b, "v").client_failures, 1);
        for i in 0..100u8 {
            t.record(now + S * u32::from(i), ip(i), &format!("acct{i}"), false);
        }
        assert!(t.clients.len() <= 8 && t.accounts.len() <= 8);
    }

    #[test]
    fn zero_maximum_turns_penalties_off() {
        let mut t = PenaltyTable::new(PenaltyConfig {
            max: Duration::ZERO,
            ..PenaltyConfig::default()
        });
        let now = Instant::now();
        for _ in 0..10 {
            t.record(now, ip(1), "alice", false);
        }
        let a = t.admit(now, ip(1), "alice");
        assert_eq!((a.hold, a.check), (Duration::ZERO, true));
    }
}
