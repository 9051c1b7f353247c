//! Everything a row image is derived from besides the compact state: the logical clock, a
//! per-row hash for stable pseudo-random attributes, the shared vocabulary, and cheap text
//! formatting.

use std::fmt::{self, Write};

use arcstr::ArcStr;
use twinflow_ingest::{TableId, Value};

use super::vocab::Vocab;

/// The logical commit time of seq 0 (the snapshot): 2025-01-01T00:00:00Z, in ms since the epoch.
pub const BASE_TIME_MS: u64 = 1_735_689_600_000;
/// Logical milliseconds between two consecutive transactions.
pub const TICK_MS: u64 = 10;

const DAY_MS: i64 = 86_400_000;
const HISTORY_MS: i64 = 4 * 365 * DAY_MS;

/// The logical commit time of transaction `seq`, in ms since the epoch.
pub fn logical_time_ms(seq: u64) -> u64 {
    BASE_TIME_MS.saturating_add(seq.saturating_mul(TICK_MS))
}

/// When a row was created or last changed: `HISTORIC` for rows of the initial state (their
/// times are derived from the row's id), else the seq of the transaction that did it.
///
/// Seqs beyond `u32::MAX` saturate: after four billion transactions `updated_at` stops moving
/// (images stay exact, because they are always derived from the stored stamp).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stamp(u32);

impl Stamp {
    /// The initial state's stamp.
    pub(crate) const HISTORIC: Stamp = Stamp(0);

    /// The stamp of transaction `seq` (>= 1).
    pub(crate) fn at(seq: u64) -> Stamp {
        Stamp(u32::try_from(seq).unwrap_or(u32::MAX).max(1))
    }

    fn millis(self) -> i64 {
        i64::try_from(logical_time_ms(u64::from(self.0))).unwrap_or(i64::MAX)
    }
}

/// SplitMix64's finaliser: a cheap, well-mixed hash of one word.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// What row images are derived from besides an entity's own fields.
#[derive(Debug)]
pub(crate) struct RowCx {
    seed: u64,
    /// The shared vocabulary.
    pub(crate) words: &'static Vocab,
}

impl RowCx {
    pub(crate) fn new(seed: u64) -> Self {
        RowCx {
            seed,
            words: Vocab::shared(),
        }
    }

    /// A stable hash of one row, for attributes that never change (names, positions, ...).
    pub(crate) fn hash(&self, table: TableId, id: u32) -> u64 {
        mix(self.seed ^ ((table as u64) << 40) ^ u64::from(id))
    }

    /// When the row was created, in ms since the epoch.
    pub(crate) fn created_ms(&self, table: TableId, id: u32, created: Stamp) -> i64 {
        if created == Stamp::HISTORIC {
            let age = (self.hash(table, id) % HISTORY_MS as u64) as i64;
            Stamp::HISTORIC.millis() - DAY_MS - age
        } else {
            created.millis()
        }
    }

    /// `created_at` and `updated_at` values of a row.
    pub(crate) fn stamps(
        &self,
        table: TableId,
        id: u32,
        created: Stamp,
        updated: Stamp,
    ) -> (Value, Value) {
        let created_ms = self.created_ms(table, id, created);
        let updated_ms = if updated == Stamp::HISTORIC {
            let span = (Stamp::HISTORIC.millis() - created_ms).max(1) as u64;
            created_ms + (mix(self.hash(table, id)) % span) as i64
        } else {
            updated.millis()
        };
        (
            Value::DateTimeMillis(created_ms),
            Value::DateTimeMillis(updated_ms),
        )
    }

    /// The time of a stamp (the initial state's own time for `HISTORIC`).
    pub(crate) fn time(stamp: Stamp) -> Value {
        Value::DateTimeMillis(stamp.millis())
    }

    /// The `DATE` of a time in ms since the epoch, minus `days_before` days.
    pub(crate) fn date(ms: i64, days_before: i64) -> Value {
        Value::Date(i32::try_from(ms.div_euclid(DAY_MS) - days_before).unwrap_or(0))
    }
}

/// An integer value (ids, counts).
pub(crate) fn int(v: impl Into<i64>) -> Value {
    Value::Int(v.into())
}

/// A nullable id: `0` is `NULL`.
pub(crate) fn opt_id(id: u32) -> Value {
    if id == 0 {
        Value::Null
    } else {
        Value::Int(i64::from(id))
    }
}

/// Formats into a text value with a single allocation for short strings.
pub(crate) fn text_fmt(args: fmt::Arguments<'_>) -> Value {
    let mut buf = StackBuf {
        bytes: [0; 128],
        len: 0,
    };
    match buf.write_fmt(args) {
        Ok(()) => match std::str::from_utf8(&buf.bytes[..buf.len]) {
            Ok(s) => Value::Text(ArcStr::from(s)),
            Err(_) => Value::Text(ArcStr::from(args.to_string())),
        },
        Err(_) => Value::Text(ArcStr::from(args.to_string())),
    }
}

/// The decimal digits of `n`, written into `buf`.
pub(crate) fn decimal(n: u32, buf: &mut [u8; 10]) -> &str {
    let mut n = n;
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8; // start > 0: u32 has at most 10 digits
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[start..]).unwrap_or("0")
}

/// The concatenation of `parts` as a text value: one allocation, no formatting machinery (for
/// text built for every row on hot paths).
pub(crate) fn join_text(parts: &[&str]) -> Value {
    let mut buf = StackBuf {
        bytes: [0; 128],
        len: 0,
    };
    if parts.iter().all(|p| buf.write_str(p).is_ok()) {
        if let Ok(s) = std::str::from_utf8(&buf.bytes[..buf.len]) {
            return Value::Text(ArcStr::from(s));
        }
    }
    Value::Text(ArcStr::from(parts.concat()))
}

/// `format!` into a [`Value::Text`].
macro_rules! text {
    ($($arg:tt)*) => { $crate::generator::text::text_fmt(format_args!($($arg)*)) };
}
pub(crate) use text;

struct StackBuf {
    bytes: [u8; 128],
    len: usize,
}

impl Write for StackBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dest = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        dest.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_text_and_decimal() {
        let mut buf = [0; 10];
        assert_eq!(decimal(0, &mut buf), "0");
        assert_eq!(decimal(u32::MAX, &mut buf), "4294967295");
        assert_eq!(join_text(&["a", ".", "b"]), Value::text("a.b"));
        let long = "y".repeat(200);
        assert_eq!(join_text(&[&long, "!"]), Value::text(&format!("{long}!")));
    }

    #[test]
    fn text_fmt_handles_short_and_long_strings() {
        assert_eq!(text!("a{}b", 1), Value::text("a1b"));
        let long = "x".repeat(300);
        assert_eq!(text!("{long}!"), Value::text(&format!("{long}!")));
    }

    #[test]
    fn historic_times_precede_the_stream() {
        let cx = RowCx::new(3);
        for id in 1..1000 {
            let (c, u) = cx.stamps(TableId::People, id, Stamp::HISTORIC, Stamp::HISTORIC);
            assert!(c <= u, "{c} {u}");
            assert!(u < Value::DateTimeMillis(logical_time_ms(1) as i64));
        }
    }
}
