//! Sums of floats that do not depend on the order of the additions.
//!
//! A group's sum is merged from partial sums of several workers, and how values are split among
//! workers depends on how many there are. Plain `f64` addition is not associative, so the same
//! input would give sums that differ in the last bits between 1 worker and 4. Every finite `f64`
//! is an integer times a power of two, so this accumulator adds them exactly, as integers in
//! 64-bit blocks; the result depends only on the multiset of values added.

use serde::{Deserialize, Serialize};

/// An exact sum of floats: 40 bytes, nothing allocated while the values share a magnitude.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExactSum {
    /// The block most values land in: the sum holds `value × 2^(64·block − 1088)` …
    value: Wide,
    block: i32,
    /// … plus `value × 2^(64·block − 1088)` for each of these, sorted by block: values of other
    /// magnitudes, and carries out of `value`.
    #[expect(
        clippy::box_collection,
        reason = "8 bytes instead of 24 in every state; values of one magnitude never allocate it"
    )]
    others: Option<Box<Vec<(i32, i128)>>>,
    /// How many of the values in the sum are NaN, +∞ and −∞, counted rather than added so
    /// that a value leaving a sliding window takes its NaN or infinity with it (an `f64` that
    /// once held NaN or both infinities stays NaN whatever is subtracted).
    non_finite: NonFinite,
}

/// Counts of the non-finite values a sum holds; they decide its value when any is there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct NonFinite {
    nan: i32,
    positive: i32,
    negative: i32,
}

impl NonFinite {
    /// Counts `value` in (`by` = 1) or out (`by` = −1).
    #[inline]
    fn count(&mut self, value: f64, by: i32) {
        if value.is_nan() {
            self.nan += by;
        } else if value > 0.0 {
            self.positive += by;
        } else {
            self.negative += by;
        }
    }

    fn merge(&mut self, other: NonFinite, sign: i32) {
        self.nan += sign * other.nan;
        self.positive += sign * other.positive;
        self.negative += sign * other.negative;
    }

    /// The sum's value when it holds a non-finite value, as IEEE addition would give it.
    fn value(self) -> Option<f64> {
        if self.nan != 0 || (self.positive != 0 && self.negative != 0) {
            Some(f64::NAN)
        } else if self.positive != 0 {
            Some(f64::INFINITY)
        } else if self.negative != 0 {
            Some(f64::NEG_INFINITY)
        } else {
            None
        }
    }
}

/// An `i128` kept as two words, aligned to 8 bytes rather than 16: a sum sits in every window
/// state and alert step record, and 16-byte alignment padded each of them by a quarter.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Wide([u64; 2]);

impl Wide {
    #[inline]
    fn get(self) -> i128 {
        ((self.0[1] as i128) << 64) | self.0[0] as i128
    }

    #[inline]
    fn of(value: i128) -> Self {
        Wide([value as u64, (value >> 64) as u64])
    }
}

/// The unique form of an exact sum: two's complement 64-bit digits from `lowest` up, with the
/// sign extended above, no zero digit at the bottom and no redundant digit at the top.
#[derive(Debug, PartialEq, Eq)]
struct Canonical {
    lowest: i32,
    digits: Vec<u64>,
    negative: bool,
}

impl ExactSum {
    /// Adds a value.
    #[inline]
    pub fn add(&mut self, value: f64) {
        if !value.is_finite() {
            self.non_finite.count(value, 1);
            return;
        }
        if value == 0.0 {
            return;
        }
        let bits = value.to_bits();
        let exponent = ((bits >> 52) & 0x7ff) as i32;
        let fraction = bits & ((1 << 52) - 1);
        let (mantissa, power) = if exponent == 0 {
            (fraction, 1)
        } else {
            (fraction | (1 << 52), exponent)
        };
        // value = mantissa × 2^(power − 1075) = mantissa × 2^(power + 13) × 2^−1088.
        let offset = power + 13;
        let shifted = (mantissa as i128) << (offset % 64);
        let signed = if bits >> 63 == 1 { -shifted } else { shifted };
        self.add_block(offset / 64, signed);
    }

    /// Takes out a value added before: a finite one exactly, a NaN or an infinity by its count,
    /// so that the sum is then what it would be had the value never been added.
    #[inline]
    pub fn remove(&mut self, value: f64) {
        if value.is_finite() {
            self.add(-value);
        } else {
            self.non_finite.count(value, -1);
        }
    }

    /// Adds `value × 2^(64·block − 1088)`.
    #[inline]
    fn add_block(&mut self, block: i32, value: i128) {
        let main = self.value.get();
        if main == 0 && self.others.is_none() {
            self.block = block;
        }
        if block == self.block {
            match main.checked_add(value) {
                Some(sum) => self.value = Wide::of(sum),
                None => {
                    // Move the upper part of the main block up a block, which always makes room.
                    let carry = main >> 64;
                    self.value = Wide::of(main - (carry << 64) + value);
                    self.add_other(self.block + 1, carry);
                }
            }
        } else {
            self.add_other(block, value);
        }
    }

    fn add_other(&mut self, block: i32, value: i128) {
        let others = self.others.get_or_insert_with(Box::default);
        match others.binary_search_by_key(&block, |(b, _)| *b) {
            Ok(at) => match others[at].1.checked_add(value) {
                Some(sum) => others[at].1 = sum,
                None => {
                    let carry = others[at].1 >> 64;
                    others[at].1 -= carry << 64;
                    others[at].1 += value;
                    self.add_other(block + 1, carry);
                }
            },
            Err(at) => others.insert(at, (block, value)),
        }
    }

    /// Adds another sum.
    pub fn merge(&mut self, other: &ExactSum) {
        self.non_finite.merge(other.non_finite, 1);
        if other.value.get() != 0 {
            self.add_block(other.block, other.value.get());
        }
        for &(block, value) in other.others.iter().flat_map(|others| others.iter()) {
            self.add_block(block, value);
        }
    }

    /// Subtracts another sum, exactly: for windows that slide by adding one step and dropping
    /// the oldest.
    pub fn subtract(&mut self, other: &ExactSum) {
        self.non_finite.merge(other.non_finite, -1);
        if other.value.get() != 0 {
            self.add_block(other.block, -other.value.get());
        }
        for &(block, value) in other.others.iter().flat_map(|others| others.iter()) {
            self.add_block(block, -value);
        }
    }

    /// Every block, main and others.
    fn blocks(&self) -> impl Iterator<Item = (i32, i128)> + '_ {
        std::iter::once((self.block, self.value.get()))
            .filter(|(_, value)| *value != 0)
            .chain(self.others.iter().flat_map(|others| others.iter().copied()))
    }

    fn canonical(&self) -> Canonical {
        let (Some(lowest), Some(highest)) = (
            self.blocks().map(|(b, _)| b).min(),
            self.blocks().map(|(b, _)| b).max(),
        ) else {
            return Canonical {
                lowest: 0,
                digits: Vec::new(),
                negative: false,
            };
        };
        // Split every block into its low 64 bits and the rest, one block up: each slot then
        // receives a handful of values below 2^64, which cannot overflow.
        let mut dense = vec![0i128; (highest - lowest + 2) as usize];
        for (block, value) in self.blocks() {
            let high = value >> 64;
            let at = (block - lowest) as usize;
            dense[at] += value - (high << 64);
            dense[at + 1] += high;
        }
        let mut digits = Vec::with_capacity(dense.len() + 2);
        let mut carry = 0i128;
        for value in dense {
            let total = value + carry;
            carry = total >> 64;
            digits.push((total - (carry << 64)) as u64);
        }
        while carry != 0 && carry != -1 {
            let next = carry >> 64;
            digits.push((carry - (next << 64)) as u64);
            carry = next;
        }
        let negative = carry == -1;
        let extension = if negative { u64::MAX } else { 0 };
        while digits.last() == Some(&extension) {
            digits.pop();
        }
        let leading_zeros = digits.iter().take_while(|&&d| d == 0).count();
        digits.drain(..leading_zeros);
        let lowest = if digits.is_empty() {
            0
        } else {
            lowest + leading_zeros as i32
        };
        Canonical {
            lowest,
            digits,
            negative,
        }
    }

    /// The sum as an `f64`, correctly rounded from the exact sum, so that equal sums give the
    /// same bits whatever order they were added in. A sum of values of one magnitude (the
    /// usual case, read at every alert step) is rounded straight from its one block.
    pub fn value(&self) -> f64 {
        let total = match &self.others {
            None => {
                let value = self.value.get();
                let magnitude = value.unsigned_abs();
                let digits = [magnitude as u64, (magnitude >> 64) as u64];
                rounded(&digits, self.block, value < 0)
            }
            Some(_) => {
                let Canonical {
                    lowest,
                    mut digits,
                    negative,
                } = self.canonical();
                if negative {
                    // Negate the two's complement number (the sign extension becomes zeros).
                    let mut carry = true;
                    for digit in digits.iter_mut() {
                        let (inverted, overflow) = (!*digit).overflowing_add(carry as u64);
                        *digit = inverted;
                        carry = carry && overflow;
                    }
                    if carry {
                        digits.push(1);
                    }
                }
                rounded(&digits, lowest, negative)
            }
        };
        total + self.non_finite.value().unwrap_or(0.0)
    }
}

/// The `f64` nearest to the magnitude `digits` (64-bit digits from block `lowest` up, block `b`
/// weighing `2^(64·b − 1088)`), negated when `negative`. The two highest digits are converted
/// with the lower ones folded into a sticky bit, so the result depends on the number alone, not
/// on how many zero digits surround it.
fn rounded(digits: &[u64], lowest: i32, negative: bool) -> f64 {
    let Some(top) = digits.iter().rposition(|&digit| digit != 0) else {
        return 0.0;
    };
    let at = top.saturating_sub(1);
    let mut pair = digits[at] as u128;
    if top > at {
        pair |= (digits[top] as u128) << 64;
    }
    if digits[..at].iter().any(|&digit| digit != 0) {
        pair |= 1;
    }
    let exponent = 64 * (lowest + at as i32) - 1088;
    let magnitude = if exponent >= -1074 {
        pair as f64 * power_of_two(exponent)
    } else {
        // 2^exponent is below the smallest subnormal: scale in two exact-then-rounded steps.
        pair as f64 * power_of_two(exponent + 256) * power_of_two(-256)
    };
    if negative { -magnitude } else { magnitude }
}

/// 2^exponent, exactly, built from its bits (`powi` goes through 2^1024 for 2^−1024 and
/// overflows on the way).
fn power_of_two(exponent: i32) -> f64 {
    match exponent {
        1024.. => f64::INFINITY,
        -1022..=1023 => f64::from_bits(((exponent + 1023) as u64) << 52),
        -1074..=-1023 => f64::from_bits(1u64 << (exponent + 1074)),
        _ => 0.0,
    }
}

impl ExactSum {
    /// Heap bytes, when values of several magnitudes were added.
    pub fn heap_bytes(&self) -> usize {
        self.others.as_ref().map_or(0, |others| {
            std::mem::size_of::<Vec<(i32, i128)>>()
                + others.capacity() * std::mem::size_of::<(i32, i128)>()
        })
    }
}

impl PartialEq for ExactSum {
    fn eq(&self, other: &Self) -> bool {
        self.canonical() == other.canonical() && self.non_finite == other.non_finite
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sum(values: impl IntoIterator<Item = f64>) -> ExactSum {
        let mut total = ExactSum::default();
        values.into_iter().for_each(|v| total.add(v));
        total
    }

    #[test]
    fn order_does_not_change_the_sum() {
        let values = [
            1e16, 1.0, -1e16, 0.1, 0.2, 3.5e-10, -7.25, 1e300, -1e300, 5e-324,
        ];
        let forward = sum(values);
        let backward = sum(values.iter().rev().copied());
        assert_eq!(forward.value().to_bits(), backward.value().to_bits());
        assert_eq!(forward, backward);
        // Plain addition loses the 1.0 in one of the two orders.
        assert_ne!(values.iter().sum::<f64>(), values.iter().rev().sum::<f64>());
        assert!((forward.value() - (1.0 + 0.1 + 0.2 + 3.5e-10 - 7.25)).abs() < 1e-12);
    }

    #[test]
    fn a_block_that_overflows_carries_into_the_next() {
        // 1.5 × 2^100 has a 53-bit mantissa shifted far up its block: 5000 of them overflow an
        // i128 several times over.
        let x = 1.5 * 2f64.powi(100);
        let total = sum(std::iter::repeat_n(x, 5000));
        assert_eq!(total.value(), 7500.0 * 2f64.powi(100));
        let mut back = total.clone();
        back.subtract(&sum(std::iter::repeat_n(x, 4999)));
        assert_eq!(back.value(), x);
    }

    #[test]
    fn the_value_is_the_exact_sum_rounded_once() {
        // 1 + 2^-53 + 2^-60 is above the midpoint between 1 and the next f64: rounding the
        // parts one after the other would give 1.
        let total = sum([2f64.powi(-60), 2f64.powi(-53), 1.0]);
        assert_eq!(total.value(), 1.0 + f64::EPSILON);
        assert_eq!(
            sum([-1.0, -(2f64.powi(-53)), -(2f64.powi(-60))]).value(),
            -1.0 - f64::EPSILON
        );
    }

    #[test]
    fn subtracting_what_was_added_leaves_exactly_the_rest() {
        let mut window = sum([0.1, 0.2, 1e20]);
        window.subtract(&sum([0.1]));
        window.subtract(&sum([1e20]));
        assert_eq!(window, sum([0.2]));
        assert_eq!(window.value(), 0.2);
    }

    #[test]
    fn negative_totals_zero_and_non_finite_values() {
        assert_eq!(sum([1.5, -4.0]).value(), -2.5);
        assert_eq!(sum([-1.0; 3000]).value(), -3000.0);
        assert_eq!(sum([2.0, -2.0]).value(), 0.0);
        assert_eq!(sum([2.0, -2.0]), ExactSum::default());
        assert!(sum([1.0, f64::NAN]).value().is_nan());
        assert_eq!(sum([f64::INFINITY, 2.0]).value(), f64::INFINITY);
        assert!(sum([f64::INFINITY, f64::NEG_INFINITY]).value().is_nan());
        assert_eq!(sum([f64::MAX, f64::MAX, -f64::MAX]).value(), f64::MAX);
        assert_eq!(sum([f64::MIN_POSITIVE / 4.0; 4]).value(), f64::MIN_POSITIVE);
    }

    #[test]
    fn a_non_finite_value_leaves_as_it_came() {
        let mut window = sum([1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 2.0]);
        assert!(window.value().is_nan());
        window.remove(f64::NAN);
        assert!(window.value().is_nan(), "both infinities are still in");
        window.remove(f64::NEG_INFINITY);
        assert_eq!(window.value(), f64::INFINITY);
        window.remove(f64::INFINITY);
        assert_eq!(window.value(), 3.0);
        assert_eq!(window, sum([1.0, 2.0]));
    }

    /// Values that are sometimes NaN or infinite.
    fn any_value() -> impl Strategy<Value = f64> {
        prop_oneof![
            8 => -1e6f64..1e6,
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
        ]
    }

    proptest! {
        /// A window slid over a sequence (each value added as it enters and removed as it
        /// leaves) holds exactly what a window summed afresh holds, NaN and infinities included.
        #[test]
        fn a_sliding_sum_equals_a_fresh_one(
            values in prop::collection::vec(any_value(), 0..200),
            width in 1usize..12,
        ) {
            let mut sliding = ExactSum::default();
            for (at, &value) in values.iter().enumerate() {
                sliding.add(value);
                if at >= width {
                    sliding.remove(values[at - width]);
                }
                let fresh = sum(values[at.saturating_sub(width - 1)..=at].iter().copied());
                prop_assert_eq!(&sliding, &fresh);
                prop_assert_eq!(sliding.value().to_bits(), fresh.value().to_bits());
            }
        }

        #[test]
        fn any_split_and_order_gives_the_same_bits(
            values in prop::collection::vec(prop_oneof![any::<f64>().prop_filter("finite", |v| v.is_finite()), -1e6f64..1e6], 0..300),
            split in 0usize..300,
        ) {
            let whole = sum(values.iter().copied());
            let split = split.min(values.len());
            let mut left = sum(values[..split].iter().rev().copied());
            left.merge(&sum(values[split..].iter().copied()));
            prop_assert_eq!(&left, &whole);
            prop_assert_eq!(left.value().to_bits(), whole.value().to_bits());
            // And it is the true sum, as far as an f64 can say.
            let naive: f64 = values.iter().filter(|v| v.abs() < 1e300).sum();
            if values.iter().all(|v| v.abs() < 1e300) && naive.is_finite() {
                let scale = values.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                prop_assert!((whole.value() - naive).abs() <= scale * 1e-12 * values.len() as f64);
            }
        }
    }
}
