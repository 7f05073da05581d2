//! Latency histograms (nanoseconds, 3 significant digits) and the spread of a figure over
//! several runs (median, min, max).

use hdrhistogram::Histogram;

/// Largest latency recorded: longer samples are clamped (a minute is already a failure).
const MAX_NANOS: u64 = 60_000_000_000;

/// A latency histogram in nanoseconds.
#[derive(Debug, Clone)]
pub(crate) struct Latencies {
    hist: Histogram<u64>,
}

impl Latencies {
    pub(crate) fn new() -> Self {
        Self {
            hist: Histogram::new_with_bounds(1, MAX_NANOS, 3)
                .expect("constant histogram bounds are valid"),
        }
    }

    /// Records one sample; zero and values past the bound are clamped.
    pub(crate) fn record(&mut self, nanos: u64) {
        self.hist.saturating_record(nanos.clamp(1, MAX_NANOS));
    }

    pub(crate) fn merge(&mut self, other: &Latencies) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.hist.add(&other.hist);
    }

    #[cfg(test)]
    pub(crate) fn count(&self) -> u64 {
        self.hist.len()
    }

    /// The value at `q` (0..=1) in milliseconds; `None` without samples.
    pub(crate) fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.hist.is_empty() {
            return None;
        }
        Some(self.hist.value_at_quantile(q) as f64 / 1e6)
    }
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

/// One figure over several runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// `None` when there is no value. The median of an even count is the mean of the middle two.
    pub(crate) fn of(values: &[f64]) -> Option<Spread> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Spread {
            median,
            min: v[0],
            max: v[n - 1],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_in_milliseconds() {
        let mut l = Latencies::new();
        assert_eq!(l.quantile_ms(0.5), None);
        for ms in 1..=100u64 {
            l.record(ms * 1_000_000);
        }
        let p50 = l.quantile_ms(0.5).unwrap();
        let p99 = l.quantile_ms(0.99).unwrap();
        assert!((p50 - 50.0).abs() < 0.1, "p50 {p50}");
        assert!((p99 - 99.0).abs() < 0.1, "p99 {p99}");
        assert_eq!(l.count(), 100);
    }

    #[test]
    fn merge_adds_samples_and_extremes_are_clamped() {
        let mut a = Latencies::new();
        let mut b = Latencies::new();
        a.record(0);
        b.record(u64::MAX);
        a.merge(&b);
        assert_eq!(a.count(), 2);
        assert!(a.quantile_ms(1.0).unwrap() >= 59_000.0);
    }

    #[test]
    fn spread_takes_median_min_max() {
        assert_eq!(Spread::of(&[]), None);
        assert_eq!(
            Spread::of(&[3.0, 1.0, 2.0]),
            Some(Spread {
                median: 2.0,
                min: 1.0,
                max: 3.0
            })
        );
        assert_eq!(Spread::of(&[4.0, 1.0]).unwrap().median, 2.5);
    }
}
