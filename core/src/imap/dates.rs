//! IMAP dates (RFC 3501 §9): `date` (`d-Mon-yyyy`, SEARCH's BEFORE/ON/SINCE) and
//! `date-time` (`dd-Mon-yyyy hh:mm:ss +zzzz`, APPEND's INTERNALDATE).

/// A calendar day as days since the Unix epoch (SEARCH's date keys).
pub type Day = i64;

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// `d-Mon-yyyy` → days since the epoch.
pub fn parse_date(text: &str) -> Option<Day> {
    let mut p = text.split('-');
    let d: i64 = p.next()?.trim().parse().ok()?;
    let m = p.next()?.to_ascii_lowercase();
    let y: i64 = p.next()?.parse().ok()?;
    let m = MONTHS.iter().position(|x| *x == m)? as u32 + 1;
    // date-year is 4DIGIT (RFC 3501 §9).
    if !(1..=31).contains(&d) || !(1..=9999).contains(&y) {
        return None;
    }
    Some(crate::imf::datetime::days_from_civil(y, m, d as u32))
}

/// IMAP `date-time` (`dd-Mon-yyyy hh:mm:ss +zzzz`, RFC 3501 §9) → the instant and the
/// zone it was given in (INTERNALDATE is shown, and searched by date, in that zone).
pub fn parse_datetime(text: &str) -> Option<crate::imf::datetime::WallClock> {
    let text = text.trim();
    let (date, rest) = text.split_once(' ')?;
    let (time, zone) = rest.trim().split_once(' ')?;
    let day = parse_date(date.trim())?;
    let mut t = time.split(':').map(|x| x.parse::<i64>().ok());
    let (Some(Some(h)), Some(Some(m)), Some(Some(s)), None) =
        (t.next(), t.next(), t.next(), t.next())
    else {
        return None;
    };
    if h > 23 || m > 59 || s > 60 || zone.len() != 5 {
        return None;
    }
    let sign = match zone.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let zh: i64 = zone[1..3].parse().ok()?;
    let zm: i64 = zone[3..5].parse().ok()?;
    if zh > 23 || zm > 59 {
        return None;
    }
    let offset = sign * (zh * 60 + zm);
    Some(crate::imf::datetime::WallClock {
        unix_secs: day * 86_400 + h * 3600 + m * 60 + s - offset * 60,
        utc_offset_minutes: offset as i32,
    })
}
