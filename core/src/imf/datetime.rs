//! Wall-clock time as the core sees it, and its RFC 5322 §3.3 and asctime renderings.
//!
//! The core never reads a clock: the runtime passes a [`WallClock`] into the calls that
//! need one (Received, Date, the mbox `From ` line).

/// A point in civil time: seconds since the Unix epoch plus the local UTC offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WallClock {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub unix_secs: i64,
    /// The local offset from UTC in minutes (e.g. +60 for CET).
    pub utc_offset_minutes: i32,
}

/// A broken-down civil date and time, in the value's own zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// The year.
    pub year: i64,
    /// 1 to 12.
    pub month: u32,
    /// 1 to 31.
    pub day: u32,
    /// 0 to 23.
    pub hour: u32,
    /// 0 to 59.
    pub minute: u32,
    /// 0 to 59.
    pub second: u32,
    /// Days since a Thursday, 0 to 6 (1970-01-01 was one): index of `DAYS`.
    weekday: u32,
}

impl Civil {
    /// The day of the week, 0 for Sunday to 6 for Saturday.
    pub fn weekday_from_sunday(&self) -> u32 {
        (self.weekday + 4) % 7
    }
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Converts days since the epoch to (year, month, day), after Howard Hinnant's
/// `civil_from_days` algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Converts (year, month, day) to days since the epoch (inverse of [`civil_from_days`]).
/// Years beyond ±100 million are clamped: no date mail meets is there, and the clamp
/// keeps this and the callers' `days × 86_400` free of overflow whatever a parser read.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = y.clamp(-100_000_000, 100_000_000);
    let (m, d) = (m.clamp(1, 12), d.min(31));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl WallClock {
    /// A time in UTC.
    pub fn utc(unix_secs: i64) -> Self {
        Self {
            unix_secs,
            utc_offset_minutes: 0,
        }
    }

    /// The date and time in this value's own zone.
    pub fn civil(&self) -> Civil {
        let local = self.unix_secs + self.utc_offset_minutes as i64 * 60;
        let days = local.div_euclid(86_400);
        let secs = local.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: (secs / 3600) as u32,
            minute: (secs / 60 % 60) as u32,
            second: (secs % 60) as u32,
            weekday: days.rem_euclid(7) as u32,
        }
    }

    /// `date-time` of RFC 5322 §3.3, e.g. `Sat, 28 Nov 2026 11:56:41 +0000`.
    pub fn rfc5322(&self) -> String {
        let c = self.civil();
        let off = self.utc_offset_minutes;
        let sign = if off < 0 { '-' } else { '+' };
        let off = off.unsigned_abs();
        format!(
            "{}, {} {} {:04} {:02}:{:02}:{:02} {}{:02}{:02}",
            DAYS[c.weekday as usize],
            c.day,
            MONTHS[(c.month - 1) as usize],
            c.year,
            c.hour,
            c.minute,
            c.second,
            sign,
            off / 60,
            off % 60
        )
    }

    /// A short local form for lists, e.g. `2026-11-28 11:56` (in the value's own zone).
    pub fn short(&self) -> String {
        let c = self.civil();
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}",
            c.year, c.month, c.day, c.hour, c.minute
        )
    }

    /// IMAP `date-time` (RFC 3501 §9), e.g. `28-Nov-2026 11:56:41 +0000`.
    pub fn imap(&self) -> String {
        let c = self.civil();
        let off = self.utc_offset_minutes;
        let sign = if off < 0 { '-' } else { '+' };
        let off = off.unsigned_abs();
        format!(
            "{:02}-{}-{:04} {:02}:{:02}:{:02} {}{:02}{:02}",
            c.day,
            MONTHS[(c.month - 1) as usize],
            c.year,
            c.hour,
            c.minute,
            c.second,
            sign,
            off / 60,
            off % 60
        )
    }

    /// The asctime(3) form used on mbox `From ` lines, e.g. `Sat Nov 28 11:56:41 2026`.
    pub fn asctime(&self) -> String {
        let c = self.civil();
        format!(
            "{} {} {:2} {:02}:{:02}:{:02} {}",
            DAYS[c.weekday as usize],
            MONTHS[(c.month - 1) as usize],
            c.day,
            c.hour,
            c.minute,
            c.second,
            c.year
        )
    }
}

/// Offsets of the zone names RFC 5322 §4.3 (obs-zone) defines, in minutes.
fn named_zone(name: &str) -> Option<i32> {
    Some(match name.to_ascii_uppercase().as_str() {
        "UT" | "UTC" | "GMT" | "Z" => 0,
        "EST" => -300,
        "EDT" => -240,
        "CST" => -360,
        "CDT" => -300,
        "MST" => -420,
        "MDT" => -360,
        "PST" => -480,
        "PDT" => -420,
        // Military zones are ambiguous (RFC 5322 §4.3): treat as -0000, i.e. UTC.
        z if z.len() == 1 && z.as_bytes()[0].is_ascii_alphabetic() && z != "J" => 0,
        _ => return None,
    })
}

fn month_number(name: &str) -> Option<u32> {
    let n = name.get(..3)?.to_ascii_lowercase();
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(&n))
        .map(|i| i as u32 + 1)
}

/// Parses an RFC 5322 §3.3 `date-time`, with the obsolete forms of §4.3: optional
/// day of week, two- and three-digit years, named and military zones, comments, missing
/// seconds, and extra whitespace. Returns None for text that is not a date.
pub fn parse_date(value: &str) -> Option<WallClock> {
    // Drop comments and the optional "Day," prefix; split on whitespace and commas. The
    // comment-free case (almost every date) allocates nothing.
    let stripped;
    let text: &str = if value.contains('(') {
        let mut clean = String::with_capacity(value.len());
        let mut depth = 0usize;
        for c in value.chars() {
            match c {
                '(' => depth += 1,
                ')' if depth > 0 => depth -= 1,
                _ if depth > 0 => {}
                _ => clean.push(c),
            }
        }
        stripped = clean;
        &stripped
    } else {
        value
    };
    let mut all = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty());
    let mut buf: [&str; 6] = [""; 6];
    let mut n = 0;
    for w in all.by_ref() {
        if n == 0 && w.chars().all(|c| c.is_ascii_alphabetic()) && month_number(w).is_none() {
            continue; // day of week
        }
        buf[n] = w;
        n += 1;
        if n == buf.len() {
            break;
        }
    }
    let words = &buf[..n];
    if words.len() < 4 {
        return None;
    }
    // Accept both "21 Nov 1997" and the occasional "Nov 21 1997".
    let (day, month) = match (words[0].parse::<u32>(), month_number(words[0])) {
        (Ok(d), _) => (d, month_number(words[1])?),
        (Err(_), Some(m)) => (words[1].parse::<u32>().ok()?, m),
        _ => return None,
    };
    let year_text = words[2];
    let mut year: i64 = year_text.parse().ok()?;
    if year_text.len() == 2 {
        year += if year < 50 { 2000 } else { 1900 };
    } else if year_text.len() == 3 {
        year += 1900;
    }
    let mut time = words[3].split(':');
    let hour: u32 = time.next()?.parse().ok()?;
    let minute: u32 = time.next()?.parse().ok()?;
    let second: u32 = match time.next() {
        Some(s) => s.parse().ok()?,
        None => 0,
    };
    let offset = match words.get(4) {
        None => 0,
        Some(z) if (z.starts_with('+') || z.starts_with('-')) && z.len() == 5 => {
            // hhmm: four digits, minutes below 60 (an offset like -9981 would render as
            // -10021 and not parse back).
            let digits = &z[1..];
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let n: i32 = digits.parse().ok()?;
            if n % 100 >= 60 {
                return None;
            }
            let minutes = n / 100 * 60 + n % 100;
            if z.starts_with('-') {
                -minutes
            } else {
                minutes
            }
        }
        Some(z) => named_zone(z).unwrap_or(0),
    };
    if !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
        || !(1000..=9999).contains(&year)
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let local = days * 86_400 + hour as i64 * 3600 + minute as i64 * 60 + second as i64;
    Some(WallClock {
        unix_secs: local - offset as i64 * 60,
        utc_offset_minutes: offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_minutes_must_be_below_60() {
        // Found by the imf_date fuzz target (10-minute campaign): "-9981" parsed as an
        // offset of 100 h 21 min, which rendered as "-10021" and did not parse back.
        assert!(parse_date("8\nMAy\n+3\x0c7:7\x0c-9981").is_none());
        assert!(parse_date("8 May 2003 07:07 -0960").is_none());
        assert!(parse_date("8 May 2003 07:07 +-123").is_none());
        let d = parse_date("8 May 2003 07:07 -9959").unwrap();
        assert_eq!(d.utc_offset_minutes, -(99 * 60 + 59));
        assert_eq!(parse_date(&d.rfc5322()).unwrap().unix_secs, d.unix_secs);
    }

    #[test]
    fn absurd_years_do_not_overflow() {
        for y in [i64::MAX, i64::MIN, 1 << 40, -(1 << 40)] {
            let days = days_from_civil(y, 1, 1);
            let _ = days * 86_400;
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn renders_known_dates() {
        let t = WallClock::utc(1_795_867_001); // 2026-11-28T11:56:41Z
        assert_eq!(t.rfc5322(), "Sat, 28 Nov 2026 11:56:41 +0000");
        assert_eq!(t.asctime(), "Sat Nov 28 11:56:41 2026");
        assert_eq!(
            WallClock::utc(0).rfc5322(),
            "Thu, 1 Jan 1970 00:00:00 +0000"
        );
        let cet = WallClock {
            unix_secs: 0,
            utc_offset_minutes: -330,
        };
        assert_eq!(cet.rfc5322(), "Wed, 31 Dec 1969 18:30:00 -0530");
    }

    /// RFC 5322 Appendix A dates and obsolete forms.
    #[test]
    fn parses_rfc5322_dates() {
        let d = parse_date("Fri, 21 Nov 1997 09:55:06 -0600").unwrap();
        assert_eq!(d.utc_offset_minutes, -360);
        assert_eq!(d.rfc5322(), "Fri, 21 Nov 1997 09:55:06 -0600");
        assert_eq!(
            parse_date("Tue, 1 Jul 2003 10:52:37 +0200")
                .unwrap()
                .rfc5322(),
            "Tue, 1 Jul 2003 10:52:37 +0200"
        );
        let a6 = parse_date("Thu,\r\n      13\r\n        Feb\r\n          1969\r\n      23:32\r\n               -0330 (Newfoundland Time)").unwrap();
        assert_eq!(a6.rfc5322(), "Thu, 13 Feb 1969 23:32:00 -0330");
        assert_eq!(
            parse_date("21 Nov 97 09:55:06 GMT").unwrap().rfc5322(),
            "Fri, 21 Nov 1997 09:55:06 +0000"
        );
        assert_eq!(
            parse_date("Mon, 1 Jan 24 00:00 EST").unwrap().rfc5322(),
            "Mon, 1 Jan 2024 00:00:00 -0500"
        );
        assert_eq!(
            parse_date("1 Jan 101 00:00:00 +0000").unwrap().rfc5322(),
            "Mon, 1 Jan 2001 00:00:00 +0000"
        );
        assert_eq!(
            parse_date("Sat, 28 Nov 2026 11:56:41 +0000 (UTC)")
                .unwrap()
                .unix_secs,
            1_795_867_001
        );
        for bad in [
            "",
            "yesterday",
            "32 Jan 2020 00:00:00",
            "1 Foo 2020 00:00",
            "1 Jan 2020 25:00",
            "1 Jan",
        ] {
            assert!(parse_date(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn days_round_trip() {
        for d in [-800_000i64, -1, 0, 1, 59, 365, 11_016, 20_420, 2_000_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }
}
