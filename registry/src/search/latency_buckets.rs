//! Latency histogram buckets for ranking: a run's duration in milliseconds maps to a
//! bucket that is exact below 64 ms and then splits each power of two into 16 equal
//! parts, so a bucket's midpoint is within 1/32 (3.125 %) of every duration in it. Ranking
//! keeps counts per bucket instead of every duration, and reads its percentiles from them.
//!
//! `migrations/*/…_backfill_capsule_performance` computes the same buckets in SQL; a test
//! in `caravan-metering` holds the two together.

use std::collections::BTreeMap;

/// Durations below this are their own bucket.
const EXACT_BELOW_MS: i64 = 64;
/// log2 of [`EXACT_BELOW_MS`]: the first power of two that is split.
const FIRST_SPLIT_EXPONENT: u32 = 6;
/// Parts of each power of two, as a power of two itself.
const PARTS_LOG2: u32 = 4;
const PARTS: i64 = 1 << PARTS_LOG2;
/// Durations are clamped below 2^32 ms (49 days), far past any deadline.
const LAST_EXPONENT: u32 = 31;

/// The highest bucket: durations of 2^32 ms or more land in it.
pub const LAST_BUCKET: i32 = bucket_of(i64::MAX);

/// The bucket of a run that took `duration_ms` (negative counts as 0).
pub const fn bucket_of(duration_ms: i64) -> i32 {
    if duration_ms < EXACT_BELOW_MS {
        return if duration_ms < 0 { 0 } else { duration_ms as i32 };
    }
    const LONGEST: i64 = (1 << (LAST_EXPONENT + 1)) - 1;
    let clamped = if duration_ms > LONGEST { LONGEST } else { duration_ms };
    let exponent = 63 - clamped.leading_zeros();
    let part = (clamped >> (exponent - PARTS_LOG2)) - PARTS;
    (EXACT_BELOW_MS + (exponent - FIRST_SPLIT_EXPONENT) as i64 * PARTS + part) as i32
}

/// The duration a bucket stands for: itself below 64 ms, else its range's midpoint.
pub const fn latency_of(bucket: i32) -> i64 {
    let bucket = bucket as i64;
    if bucket < EXACT_BELOW_MS {
        return if bucket < 0 { 0 } else { bucket };
    }
    let exponent = FIRST_SPLIT_EXPONENT + ((bucket - EXACT_BELOW_MS) / PARTS) as u32;
    let part = (bucket - EXACT_BELOW_MS) % PARTS;
    let width = 1_i64 << (exponent - PARTS_LOG2);
    (PARTS + part) * width + width / 2
}

/// The nearest-rank percentile of a histogram (runs per bucket), as the duration its
/// bucket stands for; 0 when it is empty.
pub fn percentile(histogram: &BTreeMap<i32, i64>, quantile: f64) -> i64 {
    let total: i64 = histogram.values().sum();
    if total <= 0 {
        return 0;
    }
    let rank = ((total as f64 * quantile).ceil() as i64).clamp(1, total);
    let mut seen = 0;
    for (bucket, count) in histogram {
        seen += count;
        if seen >= rank {
            return latency_of(*bucket);
        }
    }
    histogram.last_key_value().map_or(0, |(bucket, _)| latency_of(*bucket))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_durations_are_exact() {
        for ms in 0..64 {
            assert_eq!(latency_of(bucket_of(ms)), ms);
        }
        assert_eq!(bucket_of(-5), 0);
    }

    #[test]
    fn every_duration_is_within_three_percent_of_its_bucket() {
        let mut previous = bucket_of(63);
        for ms in (64..5_000_000).step_by(7).chain([1 << 31, (1 << 32) - 1]) {
            let bucket = bucket_of(ms);
            assert!(bucket >= previous, "buckets rise with durations: {ms} ms");
            previous = bucket;
            let error = (latency_of(bucket) - ms).abs() as f64 / ms as f64;
            assert!(error <= 1.0 / 32.0, "{ms} ms reads as {} ms", latency_of(bucket));
        }
    }

    #[test]
    fn buckets_split_each_power_of_two_in_sixteen() {
        assert_eq!((bucket_of(64), bucket_of(67), bucket_of(68)), (64, 64, 65));
        assert_eq!((bucket_of(127), bucket_of(128)), (79, 80));
        assert_eq!(latency_of(64), 66);
        assert_eq!(bucket_of(1 << 40), LAST_BUCKET);
        assert_eq!(LAST_BUCKET, bucket_of((1 << 32) - 1));
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let histogram = BTreeMap::from([(10, 1), (20, 1), (30, 1), (40, 1)]);
        assert_eq!(percentile(&histogram, 0.5), 20);
        assert_eq!(percentile(&histogram, 0.95), 40);
        assert_eq!(percentile(&BTreeMap::from([(5, 99), (200, 1)]), 0.99), 5);
        assert_eq!(percentile(&BTreeMap::new(), 0.5), 0);
    }
}
