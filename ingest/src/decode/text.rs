//! SQL values written as text: DECIMAL digits, `DATE` and `DATETIME` literals.

use time::macros::format_description;
use time::{Date, PrimitiveDateTime};

/// Reads decimal digits (`-123.45`) as a mantissa at `scale` digits after the point. `None` if
/// the text is not a decimal number, has more fractional digits than `scale`, or overflows.
pub fn parse_decimal(text: &str, scale: u8) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > usize::from(scale) {
        return None;
    }
    let mut mantissa: i64 = 0;
    for b in whole.bytes().chain(fraction.bytes()) {
        mantissa = mantissa.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    let pad = u32::from(scale) - u32::try_from(fraction.len()).ok()?;
    mantissa = mantissa.checked_mul(10i64.checked_pow(pad)?)?;
    Some(if negative { -mantissa } else { mantissa })
}

/// Reads `YYYY-MM-DD` as days since the Unix epoch.
pub fn parse_date(text: &str) -> Option<i32> {
    let date = Date::parse(text, format_description!("[year]-[month]-[day]")).ok()?;
    Some(days_since_epoch(date))
}

/// Reads `YYYY-MM-DD HH:MM:SS[.ffffff]` (or with a `T`) as milliseconds since the Unix epoch,
/// the time taken as UTC.
pub fn parse_datetime_millis(text: &str) -> Option<i64> {
    let text = text.replacen('T', " ", 1);
    let format = format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    let datetime = PrimitiveDateTime::parse(&text, format).ok()?;
    Some(datetime_millis(datetime))
}

/// Days since 1970-01-01.
pub(crate) fn days_since_epoch(date: Date) -> i32 {
    date.to_julian_day() - time::macros::date!(1970 - 01 - 01).to_julian_day()
}

/// Milliseconds since the epoch of a date-time taken as UTC (sub-millisecond digits dropped).
pub(crate) fn datetime_millis(datetime: PrimitiveDateTime) -> i64 {
    let nanos = datetime.assume_utc().unix_timestamp_nanos();
    i64::try_from(nanos.div_euclid(1_000_000)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_keep_their_digits() {
        assert_eq!(parse_decimal("123.45", 2), Some(12345));
        assert_eq!(parse_decimal("-0.5", 2), Some(-50));
        assert_eq!(parse_decimal("7", 2), Some(700));
        assert_eq!(parse_decimal("1.230", 2), Some(123));
        assert_eq!(parse_decimal("1.234", 2), None);
        assert_eq!(parse_decimal("1e5", 2), None);
        assert_eq!(parse_decimal("", 2), None);
        assert_eq!(parse_decimal(".", 2), None);
    }

    #[test]
    fn dates_and_datetimes_count_from_the_epoch() {
        assert_eq!(parse_date("1970-01-02"), Some(1));
        assert_eq!(parse_date("1969-12-31"), Some(-1));
        assert_eq!(parse_datetime_millis("1970-01-01 00:00:01.5"), Some(1500));
        assert_eq!(parse_datetime_millis("1970-01-01T00:01:00"), Some(60_000));
        assert_eq!(parse_datetime_millis("2024-02-30 00:00:00"), None);
        assert_eq!(parse_date("0000-00-00"), None);
    }
}
