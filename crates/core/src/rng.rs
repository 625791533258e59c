//! The seeded generator every role draws from.
//!
//! Hand-written on purpose: runs must replay bit for bit on every target and across crate
//! upgrades, so the stream is part of our format and cannot follow a dependency's version.

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough for ids, jitter and fault
/// dice. Not for secrets.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose whole stream is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `[lo, hi]` (inclusive); `lo` when the range is empty.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        let span = hi - lo + 1;
        if span == 0 {
            return self.next_u64();
        }
        // Multiply-shift maps 64 random bits onto the span without a modulo's bias worth caring
        // about at these sizes.
        lo + ((u128::from(self.next_u64()) * u128::from(span)) >> 64) as u64
    }

    /// True with probability `per_million` / 1,000,000 (integers keep runs identical on every
    /// platform, where floating point formatting and parsing could drift).
    pub fn chance(&mut self, per_million: u32) -> bool {
        per_million > 0 && self.range(0, 999_999) < u64::from(per_million)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_is_fixed_by_seed() {
        // Pinned: changing these values breaks every stored seed and shared scenario URL.
        let mut r = Rng::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        let mut r = Rng::new(7);
        for _ in 0..1000 {
            let x = r.range(3, 9);
            assert!((3..=9).contains(&x));
        }
        assert!(!r.chance(0));
        assert!(r.chance(1_000_000));
    }
}
