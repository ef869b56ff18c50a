//! Time without a date library: the server's RFC 3339 text becomes epoch
//! milliseconds, and local clock times are computed with the team zone's
//! UTC offset. The offset and the team's day come from the server
//! (`team_today()`, read into [`TeamDay`]), which computes them as the
//! engine does, so the app holds no zone table and never uses the browser's
//! own zone.

use serde_json::Value;

/// Milliseconds in a minute.
pub const MINUTE_MS: i64 = 60_000;
/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 for a civil date (proleptic Gregorian).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses `YYYY-MM-DD[T ]HH:MM[:SS[.frac]][Z|±HH[:MM]]` into epoch milliseconds.
/// Text without an offset is taken as UTC. Returns `None` for anything else.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.len() < 16 || !text.is_char_boundary(10) || !text.is_char_boundary(11) {
        return None;
    }
    let (date, rest) = (&text[..10], &text[11..]);
    if !matches!(text.as_bytes()[10], b'T' | b't' | b' ') {
        return None;
    }
    let mut parts = date.split('-');
    let year = digits(parts.next()?)?;
    let month = u32::try_from(digits(parts.next()?)?).ok()?;
    let day = u32::try_from(digits(parts.next()?)?).ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Split the clock from the offset.
    let offset_at = rest.find(['Z', 'z', '+', '-']);
    let (clock, offset) = match offset_at {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (hms, frac) = match clock.split_once('.') {
        Some((hms, frac)) => (hms, frac),
        None => (clock, ""),
    };
    let mut hms = hms.split(':');
    let hour = digits(hms.next()?)?;
    let minute = digits(hms.next()?)?;
    let second = match hms.next() {
        Some(s) => digits(s)?,
        None => 0,
    };
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let millis = if frac.is_empty() {
        0
    } else {
        let head: String = frac.chars().take(3).collect();
        let value = digits(&head)?;
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        value * 10_i64.pow(3 - head.len() as u32)
    };
    let offset_minutes = match offset {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let body = offset[1..].replace(':', "");
            if !body.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let (h, m) = match body.len() {
                2 => (digits(&body)?, 0),
                4 => (digits(&body[..2])?, digits(&body[2..])?),
                _ => return None,
            };
            sign * (h * 60 + m)
        }
    };
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + minute - offset_minutes) * MINUTE_MS + second * 1000 + millis)
}

/// Formats epoch milliseconds as UTC RFC 3339 (`2026-11-25T18:30:00.000Z`), for PostgREST filters.
pub fn to_iso_utc(ms: i64) -> String {
    let days = ms.div_euclid(DAY_MS);
    let rem = ms.rem_euclid(DAY_MS);
    let (y, m, d) = civil_from_days(days);
    let (h, min, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

/// The team's day as `team_today()` states it: the engine's own "today",
/// its bounds and the zone's offset now. Every "today" in the app comes
/// from here. `read_at_ms` is the browser's clock when it was read, so the
/// next read can be timed from elapsed browser time even when the
/// browser's clock is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamDay {
    pub time_zone: String,
    /// The local date, `YYYY-MM-DD`.
    pub date: String,
    /// Local midnight, epoch milliseconds.
    pub starts_ms: i64,
    /// The next local midnight (23 or 25 hours later on a daylight-saving day).
    pub ends_ms: i64,
    /// The zone's UTC offset at `now_ms`.
    pub offset_minutes: i32,
    /// The server's clock when it answered.
    pub now_ms: i64,
    /// When the answer stops being true: `ends_ms`, or an earlier offset change.
    pub refresh_at_ms: i64,
    pub read_at_ms: i64,
}

impl TeamDay {
    /// Reads `team_today()`'s JSON, read by the browser at `read_at_ms`; `None` when a field is missing or malformed.
    pub fn read(value: &Value, read_at_ms: i64) -> Option<TeamDay> {
        let text = |key: &str| value.get(key).and_then(Value::as_str);
        let instant = |key: &str| text(key).and_then(parse_timestamp);
        let date = text("day")?;
        local_date_start(date, 0)?;
        Some(TeamDay {
            time_zone: text("time_zone")?.to_owned(),
            date: date.to_owned(),
            starts_ms: instant("starts_at")?,
            ends_ms: instant("ends_at")?,
            offset_minutes: i32::try_from(value.get("utc_offset_minutes")?.as_i64()?).ok()?,
            now_ms: instant("now")?,
            refresh_at_ms: instant("refresh_at")?,
            read_at_ms,
        })
    }

    /// Milliseconds, from the browser's `browser_now_ms`, until the day must
    /// be read again (0 when it is due): the server's time left until
    /// `refresh_at`, less the browser time elapsed since the read.
    pub fn due_in_ms(&self, browser_now_ms: i64) -> i64 {
        (self.refresh_at_ms - self.now_ms - (browser_now_ms - self.read_at_ms)).max(0)
    }
}

/// The local day containing `now_ms`: its start in epoch milliseconds and its `YYYY-MM-DD` text.
pub fn local_day(now_ms: i64, offset_minutes: i32) -> (i64, String) {
    let offset_ms = i64::from(offset_minutes) * MINUTE_MS;
    let days = (now_ms + offset_ms).div_euclid(DAY_MS);
    let (y, m, d) = civil_from_days(days);
    (days * DAY_MS - offset_ms, format!("{y:04}-{m:02}-{d:02}"))
}

/// The start, in epoch milliseconds, of a local `YYYY-MM-DD` day.
pub fn local_date_start(date: &str, offset_minutes: i32) -> Option<i64> {
    let mut parts = date.trim().split('-');
    let year = digits(parts.next()?)?;
    let month = u32::try_from(digits(parts.next()?)?).ok()?;
    let day = u32::try_from(digits(parts.next()?)?).ok()?;
    if parts.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, month, day) * DAY_MS - i64::from(offset_minutes) * MINUTE_MS)
}

/// The local hour (0–23) of an instant.
pub fn local_hour(ms: i64, offset_minutes: i32) -> u32 {
    ((ms + i64::from(offset_minutes) * MINUTE_MS).rem_euclid(DAY_MS) / 3_600_000) as u32
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// `25 Nov, 17:05` in local time.
pub fn local_datetime(ms: i64, offset_minutes: i32) -> String {
    let local = ms + i64::from(offset_minutes) * MINUTE_MS;
    let (_, m, d) = civil_from_days(local.div_euclid(DAY_MS));
    let rem = local.rem_euclid(DAY_MS);
    format!("{d} {}, {:02}:{:02}", MONTHS[(m - 1) as usize], rem / 3_600_000, rem / 60_000 % 60)
}

/// Server text shown as local date and time, or the text itself when it does not parse.
pub fn display_timestamp(text: &str, offset_minutes: i32) -> String {
    match parse_timestamp(text) {
        Some(ms) => local_datetime(ms, offset_minutes),
        None => text.to_owned(),
    }
}

/// The value for an `<input type="datetime-local">` (`2026-11-25T17:05`).
pub fn datetime_local_value(ms: i64, offset_minutes: i32) -> String {
    let local = ms + i64::from(offset_minutes) * MINUTE_MS;
    let (y, m, d) = civil_from_days(local.div_euclid(DAY_MS));
    let rem = local.rem_euclid(DAY_MS);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}", rem / 3_600_000, rem / 60_000 % 60)
}

/// Parses a `datetime-local` value in the given offset into epoch milliseconds.
pub fn parse_datetime_local(value: &str, offset_minutes: i32) -> Option<i64> {
    let utc = parse_timestamp(value.trim())?;
    if value.trim().len() > 19 {
        return None; // an explicit offset is not a datetime-local value
    }
    Some(utc - i64::from(offset_minutes) * MINUTE_MS)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn postgrest_timestamps_with_microseconds_and_offsets_parse() {
        let a = parse_timestamp("2026-11-25T17:16:31.123456+00:00").unwrap();
        let b = parse_timestamp("2026-11-25T22:46:31.123+05:30").unwrap();
        assert_eq!(a, b);
        assert_eq!(to_iso_utc(a), "2026-11-25T17:16:31.123Z");
    }

    #[test]
    fn timestamps_without_an_offset_are_utc_and_a_space_separator_works() {
        assert_eq!(parse_timestamp("1970-01-01 00:01:00"), Some(60_000));
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_timestamp("1969-12-31T23:59:59-00:00"), Some(-1000));
    }

    #[test]
    fn garbage_timestamps_are_none_instead_of_a_panic() {
        for text in ["", "yesterday", "2026-13-01T00:00:00Z", "2026-11-25T25:00:00Z", "2026-11-25X10:00", "२०२६-११-२५T10:00:00Z", "2026-11-25T10:00:00+5", "2026-11-25T10:00:00+1é1", "2026-11-25T10:00:00.1é"] {
            assert_eq!(parse_timestamp(text), None, "{text}");
        }
    }

    #[test]
    fn the_local_day_in_india_starts_at_18_30_utc_the_day_before() {
        let now = parse_timestamp("2026-11-25T19:00:00Z").unwrap();
        let (start, date) = local_day(now, 330);
        assert_eq!(date, "2026-11-26");
        assert_eq!(to_iso_utc(start), "2026-11-25T18:30:00.000Z");
        assert_eq!(local_date_start("2026-11-26", 330), Some(start));
        assert_eq!(local_hour(now, 330), 0);
    }

    #[test]
    fn local_date_start_refuses_malformed_dates() {
        assert_eq!(local_date_start("2026-11", 0), None);
        assert_eq!(local_date_start("2026-11-25-1", 0), None);
        assert_eq!(local_date_start("abc", 0), None);
    }

    #[test]
    fn datetime_local_values_round_trip_in_the_team_zone() {
        let ms = parse_timestamp("2026-11-25T04:30:00Z").unwrap();
        assert_eq!(datetime_local_value(ms, 330), "2026-11-25T10:00");
        assert_eq!(parse_datetime_local("2026-11-25T10:00", 330), Some(ms));
        assert_eq!(parse_datetime_local("soon", 330), None);
    }

    #[test]
    fn local_datetimes_use_short_month_names() {
        let ms = parse_timestamp("2026-01-05T00:00:00Z").unwrap();
        assert_eq!(local_datetime(ms, 330), "5 Jan, 05:30");
        assert_eq!(display_timestamp("nope", 0), "nope");
    }

    fn new_york_fall_back() -> Value {
        serde_json::json!({
            "time_zone": "America/New_York", "day": "2026-11-01",
            "starts_at": "2026-11-01T04:00:00+00:00", "ends_at": "2026-11-02T05:00:00+00:00",
            "utc_offset_minutes": -240, "now": "2026-11-01T05:30:00+00:00",
            "refresh_at": "2026-11-01T06:00:00+00:00"
        })
    }

    #[test]
    fn the_team_day_reads_a_25_hour_day_and_its_offset_from_the_server() {
        let day = TeamDay::read(&new_york_fall_back(), 1_000).unwrap();
        assert_eq!((day.date.as_str(), day.time_zone.as_str(), day.offset_minutes), ("2026-11-01", "America/New_York", -240));
        assert_eq!(day.ends_ms - day.starts_ms, 25 * 3_600_000);
        assert_eq!(to_iso_utc(day.refresh_at_ms), "2026-11-01T06:00:00.000Z");
    }

    #[test]
    fn the_next_read_is_timed_by_elapsed_browser_time_whatever_the_browsers_clock_says() {
        // The browser's clock is a day off; 30 minutes of server time are left.
        let read_at = parse_timestamp("2026-11-02T05:30:00Z").unwrap();
        let day = TeamDay::read(&new_york_fall_back(), read_at).unwrap();
        assert_eq!(day.due_in_ms(read_at), 30 * MINUTE_MS);
        assert_eq!(day.due_in_ms(read_at + 29 * MINUTE_MS), MINUTE_MS);
        assert_eq!(day.due_in_ms(read_at + 31 * MINUTE_MS), 0);
    }

    #[test]
    fn a_team_day_with_a_missing_or_malformed_field_is_refused() {
        for key in ["time_zone", "day", "starts_at", "ends_at", "utc_offset_minutes", "now", "refresh_at"] {
            let mut value = new_york_fall_back();
            value.as_object_mut().unwrap().remove(key);
            assert_eq!(TeamDay::read(&value, 0), None, "without {key}");
        }
        let mut value = new_york_fall_back();
        value["day"] = serde_json::json!("1 Nov");
        assert_eq!(TeamDay::read(&value, 0), None);
    }
}

/// Properties over many generated inputs: formatting then parsing gives back
/// the same instant or calendar day, and malformed text is refused.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// 0001-01-01T00:00:00Z, the first instant RFC 3339's four-digit year can write.
    const FIRST_MS: i64 = -62_135_596_800_000;
    /// 9999-12-31T23:59:59.999Z, the last.
    const LAST_MS: i64 = 253_402_300_799_999;
    /// Real offsets run from −12:00 to +14:00.
    const OFFSETS: std::ops::RangeInclusive<i32> = -720..=840;

    /// `ms` written as RFC 3339 in the given offset, e.g. `2026-11-25T22:46:31.123+05:30`.
    fn with_offset(ms: i64, offset_minutes: i32) -> String {
        let local = to_iso_utc(ms + i64::from(offset_minutes) * MINUTE_MS);
        let sign = if offset_minutes < 0 { '-' } else { '+' };
        let abs = offset_minutes.abs();
        format!("{}{sign}{:02}:{:02}", &local[..23], abs / 60, abs % 60)
    }

    /// Text built from timestamp-like pieces and multibyte characters.
    fn server_text() -> impl Strategy<Value = String> {
        const PIECES: [&str; 16] = ["2026", "-", "11", "T", " ", ":", "59", ".", "123456", "+", "05:30", "Z", "é", "२", "\u{1F4DE}", "0"];
        prop::collection::vec(prop::sample::select(&PIECES[..]), 0..24).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #[test]
        fn every_instant_reads_back_from_its_utc_text(ms in FIRST_MS..=LAST_MS) {
            prop_assert_eq!(parse_timestamp(&to_iso_utc(ms)), Some(ms));
        }

        #[test]
        fn an_instant_written_in_any_offset_reads_back_as_the_same_instant(
            ms in FIRST_MS + DAY_MS..LAST_MS - DAY_MS,
            offset in OFFSETS,
        ) {
            let text = with_offset(ms, offset);
            prop_assert_eq!(parse_timestamp(&text), Some(ms), "{}", text);
        }

        #[test]
        fn every_calendar_day_starts_at_local_midnight_and_is_named_by_its_date(
            year in 1_i64..=9999,
            month in 1_u32..=12,
            day in 1_u32..=28,
            offset in OFFSETS,
        ) {
            let date = format!("{year:04}-{month:02}-{day:02}");
            let start = local_date_start(&date, offset).unwrap();
            prop_assert_eq!(local_day(start, offset), (start, date.clone()));
            prop_assert_eq!(local_day(start + DAY_MS - 1, offset), (start, date));
            prop_assert_eq!(local_hour(start, offset), 0);
        }

        #[test]
        fn a_datetime_local_value_reads_back_to_the_minute(ms in FIRST_MS + DAY_MS..LAST_MS - DAY_MS, offset in OFFSETS) {
            let value = datetime_local_value(ms, offset);
            prop_assert_eq!(parse_datetime_local(&value, offset), Some(ms - ms.rem_euclid(MINUTE_MS)), "{}", value);
        }

        #[test]
        fn a_field_out_of_range_is_refused(
            ms in FIRST_MS..=LAST_MS,
            (at, bad) in prop_oneof![
                Just((5, "13")), Just((5, "00")), Just((8, "32")), Just((8, "00")),
                Just((11, "24")), Just((14, "60")), Just((14, "9a")), Just((10, "x")),
            ],
        ) {
            let mut text = to_iso_utc(ms);
            text.replace_range(at..at + bad.len(), bad);
            prop_assert_eq!(parse_timestamp(&text), None, "{}", text);
        }

        #[test]
        fn server_text_is_refused_or_names_an_instant_that_reads_back_the_same(text in server_text()) {
            if let Some(ms) = parse_timestamp(&text) {
                // Years past 9999 parse but cannot be written back in four digits.
                if (FIRST_MS..=LAST_MS).contains(&ms) {
                    prop_assert_eq!(parse_timestamp(&to_iso_utc(ms)), Some(ms), "{}", text);
                }
                prop_assert!(!local_datetime(ms, 330).is_empty());
            }
            if let Some(start) = local_date_start(&text, 330) {
                prop_assert_eq!(local_hour(start, 330), 0, "{}", text);
            }
        }
    }
}
