//! Choosing where remote mail goes (RFC 5321 §5.1, RFC 7505): mail exchangers in order
//! of preference, equal preferences shuffled, the implicit MX when there is none, null
//! MX, and the loop check when this host is one of the exchangers.

/// One MX record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxHost {
    /// Lower is preferred.
    pub preference: u16,
    /// The exchanger's name (`""` or `.` for a null MX).
    pub host: String,
}

/// Why a domain cannot be routed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The domain publishes a null MX (RFC 7505): it accepts no mail (5.1.10).
    #[error("the domain accepts no mail (null MX)")]
    NullMx,
    /// This host is the best exchanger left: the mail would loop (5.4.6).
    #[error("mail for the domain loops back to this host")]
    Loop,
}

impl RouteError {
    /// The text for logs and bounces, with the enhanced status code.
    pub fn describe(&self, domain: &str) -> (String, (u8, u16, u16)) {
        match self {
            RouteError::NullMx => (
                format!("Domain {domain} does not accept mail (null MX)"),
                (5, 1, 10),
            ),
            RouteError::Loop => (format!("mail for {domain} loops back to myself"), (5, 4, 6)),
        }
    }
}

fn is_null(host: &str) -> bool {
    host.is_empty() || host == "."
}

/// Orders the exchangers of a domain for delivery attempts: by preference, equal
/// preferences in an order drawn from `seed` (the runtime's randomness). When one of
/// `local_names` is an exchanger, only the strictly preferred ones are kept (RFC 5321
/// §5.1); none left is a loop.
pub fn order_mx(
    records: &[MxHost],
    local_names: &[&str],
    seed: u64,
) -> Result<Vec<String>, RouteError> {
    if records.len() == 1 && is_null(&records[0].host) {
        return Err(RouteError::NullMx);
    }
    let mut hosts: Vec<MxHost> = records
        .iter()
        .filter(|m| !is_null(&m.host))
        .map(|m| MxHost {
            preference: m.preference,
            host: m.host.trim_end_matches('.').to_ascii_lowercase(),
        })
        .collect();
    if hosts.is_empty() {
        return Err(RouteError::NullMx);
    }
    hosts.sort_by_key(|m| m.preference);
    // splitmix64: well mixed even for small seeds.
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut start = 0;
    while start < hosts.len() {
        let pref = hosts[start].preference;
        let end = hosts[start..]
            .iter()
            .position(|m| m.preference != pref)
            .map_or(hosts.len(), |n| start + n);
        for i in (start + 1..end).rev() {
            let j = start + (next() % (i - start + 1) as u64) as usize;
            hosts.swap(i, j);
        }
        start = end;
    }
    let own = hosts
        .iter()
        .filter(|m| local_names.iter().any(|n| n.eq_ignore_ascii_case(&m.host)))
        .map(|m| m.preference)
        .min();
    if let Some(own) = own {
        hosts.retain(|m| m.preference < own);
        if hosts.is_empty() {
            return Err(RouteError::Loop);
        }
    }
    Ok(hosts.into_iter().map(|m| m.host).collect())
}

/// The address literal of a domain such as `[192.0.2.1]` or `[IPv6:2001:db8::1]`.
pub fn address_literal(domain: &str) -> Option<core::net::IpAddr> {
    let inner = domain.strip_prefix('[')?.strip_suffix(']')?;
    match inner.get(..5) {
        Some(p) if p.eq_ignore_ascii_case("IPv6:") => inner[5..].parse().ok(),
        _ => inner
            .parse::<core::net::Ipv4Addr>()
            .ok()
            .map(core::net::IpAddr::V4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mx(p: u16, h: &str) -> MxHost {
        MxHost {
            preference: p,
            host: h.into(),
        }
    }

    #[test]
    fn preference_order_and_shuffle() {
        let recs = [mx(20, "b."), mx(10, "A"), mx(20, "c"), mx(30, "d")];
        let order = order_mx(&recs, &[], 1).unwrap();
        assert_eq!(order[0], "a");
        assert_eq!(order[3], "d");
        let mut seen = std::collections::HashSet::new();
        for seed in 0..50 {
            let o = order_mx(&recs, &[], seed).unwrap();
            seen.insert(o[1].clone());
            assert!(o[1..3].contains(&"b".to_string()) && o[1..3].contains(&"c".to_string()));
        }
        assert_eq!(seen.len(), 2, "equal preferences are shuffled");
    }

    #[test]
    fn null_mx_and_loops() {
        assert_eq!(order_mx(&[mx(0, ".")], &[], 1), Err(RouteError::NullMx));
        assert_eq!(order_mx(&[mx(0, "")], &[], 1), Err(RouteError::NullMx));
        let recs = [mx(10, "mx1"), mx(20, "me.example"), mx(30, "mx3")];
        assert_eq!(order_mx(&recs, &["ME.example"], 1).unwrap(), ["mx1"]);
        assert_eq!(
            order_mx(&[mx(10, "me.example"), mx(20, "x")], &["me.example"], 1),
            Err(RouteError::Loop)
        );
    }

    #[test]
    fn literals() {
        assert_eq!(
            address_literal("[127.0.0.2]"),
            Some("127.0.0.2".parse().unwrap())
        );
        assert_eq!(address_literal("[IPv6:::1]"), Some("::1".parse().unwrap()));
        assert_eq!(address_literal("example.com"), None);
        assert_eq!(address_literal("[999.1.1.1]"), None);
    }
}
