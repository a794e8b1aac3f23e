//! Built-in values for templates and the demo target: clock, calendar dates and
//! random identifiers. The calendar is the `time` crate's (linked already by
//! x509-parser and rcgen); the text forms are written here.

use std::time::{SystemTime, UNIX_EPOCH};

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime};

/// The Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

/// Seconds since the Unix epoch (UTC), as a float with microsecond resolution.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The UTC date and time of unix seconds, clamped to the years -9999..=9999
/// the calendar covers (an X.509 time is always inside).
pub fn utc(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or_else(|_| {
        if secs < 0 {
            PrimitiveDateTime::MIN.assume_utc()
        } else {
            PrimitiveDateTime::MAX.assume_utc()
        }
    })
}

/// (year, month, day) of the proleptic Gregorian calendar for a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let date = utc(days.saturating_mul(86_400)).date();
    (
        i64::from(date.year()),
        u32::from(u8::from(date.month())),
        u32::from(date.day()),
    )
}

/// Days since 1970-01-01 for a civil date (as [`parse_date`] returns it). A
/// day past the month's end counts on into the next month; a month outside
/// 1..=12 is January, a year outside the calendar's range its nearest end.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let month = u8::try_from(m)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .unwrap_or(Month::January);
    let year = y.clamp(i64::from(Date::MIN.year()), i64::from(Date::MAX.year())) as i32;
    let first = Date::from_calendar_date(year, month, 1).unwrap_or(Date::MIN);
    i64::from(first.to_julian_day()) - UNIX_EPOCH_JULIAN_DAY + i64::from(d) - 1
}

/// `YYYY-MM-DD` for the UTC day `offset_days` away from today.
pub fn date_utc(offset_days: i64) -> String {
    let days = (unix_now() / 86_400.0).floor() as i64 + offset_days;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Today's UTC date as `YYYY-MM-DD`.
pub fn today_utc() -> String {
    date_utc(0)
}

/// RFC 3339 UTC timestamp with millisecond precision, e.g. `2026-11-26T02:03:20.123Z`.
pub fn rfc3339_utc(unix: f64) -> String {
    let secs = unix.floor() as i64;
    let millis = ((unix - secs as f64) * 1000.0).floor() as u32;
    format!("{}.{millis:03}Z", date_time(secs, 'T'))
}

/// `YYYY-MM-DD` `sep` `HH:MM:SS` of the UTC second `secs` (both timestamp
/// forms the probe writes: RFC 3339's `T`, and a space for people).
pub fn date_time(secs: i64, sep: char) -> String {
    let t = utc(secs);
    format!(
        "{:04}-{:02}-{:02}{sep}{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parses `YYYY-MM-DD` strictly; `None` when it is not a real calendar date.
pub fn parse_date(s: &str) -> Option<(i64, u32, u32)> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = s[0..4].parse().ok()?;
    let m: u32 = s[5..7].parse().ok()?;
    let d: u32 = s[8..10].parse().ok()?;
    // The calendar rejects month 13, day 0, 2025-02-30 and friends.
    let month = Month::try_from(u8::try_from(m).ok()?).ok()?;
    Date::from_calendar_date(i32::try_from(y).ok()?, month, u8::try_from(d).ok()?).ok()?;
    Some((y, m, d))
}

const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// `n` random lowercase alphanumerics (safe in usernames, emails, URLs).
pub fn random_alnum(n: usize) -> String {
    (0..n)
        .map(|_| ALNUM[fastrand::usize(..ALNUM.len())] as char)
        .collect()
}

/// `n` random lowercase hex digits.
pub fn random_hex(n: usize) -> String {
    (0..n)
        .map(|_| char::from_digit(fastrand::u32(..16), 16).unwrap_or('0'))
        .collect()
}

/// A random (version 4) UUID in its canonical text form.
pub fn uuid_v4() -> String {
    let mut b: [u8; 16] = fastrand::u128(..).to_le_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_418), (2025, 11, 26));
        for days in [-1000, 0, 59, 60, 11_016, 20_418, 50_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(parse_date("2024-02-29"), Some((2024, 2, 29)));
        assert_eq!(parse_date("2025-02-29"), None);
        assert_eq!(parse_date("2025-1-01"), None);
        assert_eq!(rfc3339_utc(86_400.5), "1970-01-02T00:00:00.500Z");
    }

    #[test]
    fn uuid_shape() {
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}
