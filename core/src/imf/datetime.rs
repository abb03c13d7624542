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

/// A broken-down civil date and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    weekday: u32,
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
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
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

    fn civil(&self) -> Civil {
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn days_round_trip() {
        for d in [-800_000i64, -1, 0, 1, 59, 365, 11_016, 20_420, 2_000_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
    }
}
