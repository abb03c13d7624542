//! Sieve `date` and `index` (RFC 5260): the `date` test on a header field's date and
//! `currentdate` on the time of delivery (passed in: the core reads no clock), each
//! giving a date part (`year`, `month`, `day`, `date`, `julian`, `hour`, `minute`,
//! `second`, `time`, `iso8601`, `std11`, `zone`, `weekday`) in the local zone, another
//! `:zone`, or the field's own (`:originalzone`); and `:index N [:last]` choosing one
//! field among those named.

use crate::imf::datetime::{days_from_civil, parse_date, WallClock};

/// The date parts RFC 5260 §4.2 names.
pub(super) const DATE_PARTS: [&str; 13] = [
    "year", "month", "day", "date", "julian", "hour", "minute", "second", "time", "iso8601",
    "std11", "zone", "weekday",
];

/// A `:zone` argument, `+hhmm` or `-hhmm`, as minutes east of UTC.
pub(super) fn parse_zone(zone: &str) -> Option<i32> {
    let b = zone.as_bytes();
    if b.len() != 5 || !matches!(b[0], b'+' | b'-') || !b[1..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let hours: i32 = zone[1..3].parse().ok()?;
    let minutes: i32 = zone[3..5].parse().ok()?;
    if minutes > 59 {
        return None;
    }
    let total = hours * 60 + minutes;
    Some(if b[0] == b'-' { -total } else { total })
}

/// The date of a header field's value: the whole value, else what follows its last `;`
/// (a Received field's date).
pub(super) fn field_date(value: &str) -> Option<WallClock> {
    parse_date(value).or_else(|| parse_date(value.rsplit_once(';')?.1))
}

/// `t` shown in the zone `offset` (minutes east of UTC).
pub(super) fn in_zone(t: WallClock, offset: i32) -> WallClock {
    WallClock {
        unix_secs: t.unix_secs,
        utc_offset_minutes: offset,
    }
}

/// One date part of `t` (in `t`'s zone), as RFC 5260 §4.2 writes it.
pub(super) fn date_part(t: WallClock, part: &str) -> Option<String> {
    let c = t.civil();
    let off = t.utc_offset_minutes;
    let sign = if off < 0 { '-' } else { '+' };
    let (oh, om) = (off.unsigned_abs() / 60, off.unsigned_abs() % 60);
    Some(match part.to_ascii_lowercase().as_str() {
        "year" => format!("{:04}", c.year),
        "month" => format!("{:02}", c.month),
        "day" => format!("{:02}", c.day),
        "date" => format!("{:04}-{:02}-{:02}", c.year, c.month, c.day),
        // Modified Julian Day: days since 1858-11-17.
        "julian" => {
            (days_from_civil(c.year, c.month, c.day) - days_from_civil(1858, 11, 17)).to_string()
        }
        "hour" => format!("{:02}", c.hour),
        "minute" => format!("{:02}", c.minute),
        "second" => format!("{:02}", c.second),
        "time" => format!("{:02}:{:02}:{:02}", c.hour, c.minute, c.second),
        "iso8601" => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{sign}{oh:02}:{om:02}",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        ),
        "std11" => t.rfc5322(),
        "zone" => format!("{sign}{oh:02}{om:02}"),
        "weekday" => c.weekday_from_sunday().to_string(),
        _ => return None,
    })
}

/// `:index n [:last]` (RFC 5260 §6): the n-th of `fields` (1-based), counted from the
/// end with `last`; none when there are fewer.
pub(super) fn pick<T>(mut fields: Vec<T>, index: u64, last: bool) -> Vec<T> {
    let n = usize::try_from(index).unwrap_or(usize::MAX);
    if n == 0 || n > fields.len() {
        return Vec::new();
    }
    let at = if last { fields.len() - n } else { n - 1 };
    vec![fields.swap_remove(at)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_parts_of_rfc5260_examples() {
        let t = field_date("Tue, 1 Apr 1997 09:06:31 -0800 (PST)").unwrap();
        let get = |p: &str| date_part(t, p).unwrap();
        assert_eq!(get("date"), "1997-04-01");
        assert_eq!(get("time"), "09:06:31");
        assert_eq!(get("zone"), "-0800");
        assert_eq!(get("weekday"), "2");
        assert_eq!(get("iso8601"), "1997-04-01T09:06:31-08:00");
        assert_eq!(get("julian"), "50539");
        let utc = in_zone(t, 0);
        assert_eq!(date_part(utc, "hour").unwrap(), "17");
        assert_eq!(
            date_part(in_zone(t, parse_zone("+0530").unwrap()), "time").unwrap(),
            "22:36:31"
        );
        let received = "from a by b with ESMTP id 1; Sun, 6 Dec 2026 10:00:00 +0000";
        assert_eq!(
            date_part(field_date(received).unwrap(), "year").unwrap(),
            "2026"
        );
        assert_eq!(parse_zone("+2400"), Some(1440));
        assert_eq!(parse_zone("0100"), None);
        assert_eq!(parse_zone("+01:00"), None);
        assert_eq!(date_part(t, "fortnight"), None);
        assert_eq!(pick(vec![1, 2, 3], 1, true), vec![3]);
        assert_eq!(pick(vec![1, 2, 3], 2, false), vec![2]);
        assert!(pick(vec![1], 2, false).is_empty() && pick(vec![1], 0, false).is_empty());
    }
}
