//! Timestamps as nodejobs stores them, and as hosts may send them.
//!
//! nodejobs writes Python's `datetime.isoformat()` of a naive UTC time:
//! `YYYY-MM-DDTHH:MM:SS.ffffff`, or without the fraction when it is zero.
//! It reads back only those two forms, so jobdb stores exactly them. Both
//! forms sort as text in time order, which is what lets SQLite compare and
//! index them.
//!
//! Hosts may send an offset or `Z`; the time is converted to UTC before it
//! is stored. jobdb returns timestamps as RFC 3339 in UTC with six fraction
//! digits and a `Z`, so no reader has to guess the zone.

use chrono::format::{Fixed, Item, Numeric, Pad, Parsed};
use chrono::{DateTime, Datelike, NaiveDateTime, SubsecRound, Timelike, Utc};

use crate::error::quoted;

/// `YYYY-MM-DDTHH:MM:SS`, the part every form shares. These are chrono's
/// items for "%Y-%m-%dT%H:%M:%S", spelled out so that reading a record,
/// which parses several timestamps, does not parse a format string each
/// time.
const DATE_AND_TIME: [Item<'static>; 11] = [
    Item::Numeric(Numeric::Year, Pad::Zero),
    Item::Literal("-"),
    Item::Numeric(Numeric::Month, Pad::Zero),
    Item::Literal("-"),
    Item::Numeric(Numeric::Day, Pad::Zero),
    Item::Literal("T"),
    Item::Numeric(Numeric::Hour, Pad::Zero),
    Item::Literal(":"),
    Item::Numeric(Numeric::Minute, Pad::Zero),
    Item::Literal(":"),
    Item::Numeric(Numeric::Second, Pad::Zero),
];

/// "%.f": an optional fraction of any length up to nanoseconds.
const ANY_FRACTION: Item<'static> = Item::Fixed(Fixed::Nanosecond);

/// A point in time, in UTC, with microsecond precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(NaiveDateTime);

impl Timestamp {
    pub fn now() -> Timestamp {
        Timestamp(Utc::now().naive_utc().trunc_subsecs(6))
    }

    /// Parses an RFC 3339 time with `Z` or an offset, or a naive ISO 8601
    /// time taken as UTC. Digits past the microsecond are dropped, since
    /// the stored form cannot hold them. Years outside 1 to 9999 are
    /// refused: Python's `datetime`, and so nodejobs, cannot read them.
    pub fn parse(text: &str) -> Result<Timestamp, String> {
        let not_a_timestamp = || {
            format!(
                "{} is not a timestamp; use ISO 8601 such as \
                 2024-05-01T12:00:00Z, 2024-05-01T14:00:00.5+02:00 or \
                 2024-05-01T12:00:00 (taken as UTC)",
                quoted(text)
            )
        };
        // chrono would also take a sign or spaces before the year.
        if !text.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(not_a_timestamp());
        }
        let naive = parse_any(text).ok_or_else(not_a_timestamp)?;
        if !(1..=9999).contains(&naive.year()) {
            return Err(format!("{} is outside the years 1 to 9999", quoted(text)));
        }
        // chrono keeps a leap second as a nanosecond count past one
        // second; Python's datetime, and so nodejobs, cannot hold it.
        if naive.nanosecond() >= 1_000_000_000 {
            return Err(format!(
                "{} is a leap second, which cannot be stored",
                quoted(text)
            ));
        }
        Ok(Timestamp(naive.trunc_subsecs(6)))
    }

    /// The form stored in `jobs.db`, which nodejobs can read back.
    pub fn to_stored(self) -> String {
        let with_fraction = self.0.nanosecond() != 0;
        self.format(with_fraction, "")
    }

    /// The form returned to hosts: RFC 3339, UTC, six fraction digits.
    pub fn to_rfc3339(self) -> String {
        self.format(true, "Z")
    }

    /// `YYYY-MM-DDTHH:MM:SS`, then `.ffffff` if asked, then `suffix`.
    /// Written digit by digit rather than through chrono's formatter,
    /// which interprets a format on every call: a list of many jobs
    /// formats several timestamps for each. `parse` keeps years to four
    /// digits, so every width is fixed.
    fn format(self, with_fraction: bool, suffix: &str) -> String {
        let (date, time) = (self.0.date(), self.0.time());
        let mut text = String::with_capacity(32);
        push_digits(&mut text, date.year() as u32, 4);
        text.push('-');
        push_digits(&mut text, date.month(), 2);
        text.push('-');
        push_digits(&mut text, date.day(), 2);
        text.push('T');
        push_digits(&mut text, time.hour(), 2);
        text.push(':');
        push_digits(&mut text, time.minute(), 2);
        text.push(':');
        push_digits(&mut text, time.second(), 2);
        if with_fraction {
            text.push('.');
            push_digits(&mut text, time.nanosecond() / 1000, 6);
        }
        text.push_str(suffix);
        text
    }
}

/// Appends the last `width` decimal digits of `value`, zero-padded.
fn push_digits(text: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = value / 10u32.pow(place) % 10;
        text.push(char::from(b'0' + digit as u8));
    }
}

/// The naive forms first: they are what the database holds, and so what
/// every read parses.
fn parse_any(text: &str) -> Option<NaiveDateTime> {
    let mut parsed = Parsed::new();
    let items = DATE_AND_TIME.iter().cloned().chain([ANY_FRACTION]);
    if chrono::format::parse(&mut parsed, text, items).is_ok() {
        return parsed.to_naive_datetime_with_offset(0).ok();
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|zoned| zoned.naive_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(text: &str) -> String {
        Timestamp::parse(text).unwrap().to_stored()
    }

    #[test]
    fn stores_the_two_forms_nodejobs_writes() {
        assert_eq!(stored("2024-05-01T12:00:00"), "2024-05-01T12:00:00");
        assert_eq!(
            stored("2024-05-01T12:00:00.000250"),
            "2024-05-01T12:00:00.000250"
        );
        assert_eq!(
            stored("2024-05-01T12:00:00.5"),
            "2024-05-01T12:00:00.500000"
        );
        assert_eq!(stored("2024-05-01T12:00:00.000000"), "2024-05-01T12:00:00");
    }

    #[test]
    fn converts_offsets_to_utc() {
        assert_eq!(stored("2024-05-01T12:00:00Z"), "2024-05-01T12:00:00");
        assert_eq!(
            stored("2024-05-01T14:30:00.25+02:00"),
            "2024-05-01T12:30:00.250000"
        );
        assert_eq!(stored("2024-12-31T23:00:00-01:30"), "2025-01-01T00:30:00");
    }

    #[test]
    fn drops_digits_past_the_microsecond() {
        assert_eq!(
            stored("2024-05-01T12:00:00.123456789Z"),
            "2024-05-01T12:00:00.123456"
        );
    }

    #[test]
    fn returns_rfc3339_with_z() {
        let ts = Timestamp::parse("2024-05-01T12:00:00").unwrap();
        assert_eq!(ts.to_rfc3339(), "2024-05-01T12:00:00.000000Z");
    }

    #[test]
    fn rejects_what_is_not_a_timestamp() {
        for bad in [
            "",
            "yesterday",
            "2024-05-01",
            "2024-13-01T00:00:00",
            "2024-05-01T12:00:00+25:00",
            "1715000000",
            " 2024-05-01T12:00:00",
            "+2024-05-01T12:00:00",
        ] {
            let err = Timestamp::parse(bad).unwrap_err();
            assert!(err.contains("is not a timestamp"), "{bad}: {err}");
        }
    }

    #[test]
    fn rejects_years_python_cannot_read() {
        let err = Timestamp::parse("0000-01-01T00:00:00Z").unwrap_err();
        assert!(err.contains("outside the years 1 to 9999"), "{err}");
    }

    #[test]
    fn rejects_leap_seconds() {
        let err = Timestamp::parse("2016-12-31T23:59:60Z").unwrap_err();
        assert!(err.contains("leap second"), "{err}");
    }

    #[test]
    fn stored_text_sorts_in_time_order() {
        let times = [
            "2024-05-01T12:00:00",
            "2024-05-01T12:00:00.000001",
            "2024-05-01T12:00:00.5",
            "2024-05-01T12:00:01",
            "2024-05-01T12:00:01.000001",
        ];
        let texts: Vec<String> = times.iter().map(|t| stored(t)).collect();
        let mut sorted = texts.clone();
        sorted.sort();
        assert_eq!(texts, sorted);
    }
}
