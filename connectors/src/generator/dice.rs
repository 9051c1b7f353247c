//! The generator's one source of randomness: a seeded ChaCha8 stream with small helpers.
//!
//! ChaCha8 and rand's integer sampling are portable, so the same seed gives the same stream on
//! every platform.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A seeded random stream.
#[derive(Clone, Debug)]
pub(crate) struct Dice(ChaCha8Rng);

impl Dice {
    /// The stream of `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Dice(ChaCha8Rng::seed_from_u64(seed))
    }

    /// A uniform integer in `0..n`; `0` when `n == 0`.
    pub(crate) fn below(&mut self, n: u32) -> u32 {
        if n == 0 {
            0
        } else {
            self.0.random_range(0..n)
        }
    }

    /// A uniform integer in `lo..=hi` (`lo` when the range is empty).
    pub(crate) fn between(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            lo
        } else {
            self.0.random_range(lo..=hi)
        }
    }

    /// `true` with probability `percent / 100`.
    pub(crate) fn percent(&mut self, percent: u32) -> bool {
        self.below(100) < percent
    }

    /// A uniform element of `items`, if any.
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        let n = u32::try_from(items.len()).unwrap_or(u32::MAX);
        items.get(self.below(n) as usize).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_handle_empty_ranges() {
        let mut d = Dice::new(1);
        assert_eq!(d.below(0), 0);
        assert_eq!(d.between(5, 5), 5);
        assert_eq!(d.between(5, 2), 5);
        assert_eq!(d.pick::<u32>(&[]), None);
        assert_eq!(d.pick(&[7]), Some(7));
    }

    #[test]
    fn same_seed_same_stream() {
        let (mut a, mut b) = (Dice::new(9), Dice::new(9));
        let xs: Vec<u32> = (0..32).map(|_| a.below(1000)).collect();
        let ys: Vec<u32> = (0..32).map(|_| b.below(1000)).collect();
        assert_eq!(xs, ys);
    }
}
