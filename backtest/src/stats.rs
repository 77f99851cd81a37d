//! Rank correlation and bootstrap intervals.
//!
//! Spearman's ρ is Pearson's correlation of the ranks, ties sharing their
//! mean rank. Intervals are percentile bootstraps over hours: the hours are
//! the independent units (orchestrators within one hour share the network's
//! state), so each resample draws whole hours with replacement.

use rand::Rng;
use rand::rngs::StdRng;

/// Ranks from 1, ties given the mean of the ranks they span.
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut out = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            out[k] = mean;
        }
        i = j + 1;
    }
    out
}

fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// Spearman's ρ of `pairs`; `None` with fewer than 3 pairs or when either
/// side is constant (a rank correlation is undefined there, not 0).
pub fn spearman(pairs: &[(f64, f64)]) -> Option<f64> {
    if pairs.len() < 3 {
        return None;
    }
    let (x, y): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
    pearson(&ranks(&x), &ranks(&y))
}

/// A value with its 95 % bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Estimate {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

impl Estimate {
    /// Whether the interval lies wholly above (1), below (-1) or across 0.
    pub fn sign(&self) -> i8 {
        if self.low > 0.0 {
            1
        } else if self.high < 0.0 {
            -1
        } else {
            0
        }
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// The ratio Σ num / Σ den over hours (`(num, den)` per hour), with a
/// bootstrap interval from `resamples` draws of the hours. The mean of
/// per-hour values is the ratio with every den = 1.
pub fn ratio(hours: &[(f64, f64)], resamples: usize, rng: &mut StdRng) -> Option<Estimate> {
    let total = |draw: &mut dyn Iterator<Item = (f64, f64)>| {
        let (n, d) = draw.fold((0.0, 0.0), |(n, d), (a, b)| (n + a, d + b));
        (d > 0.0).then(|| n / d)
    };
    let value = total(&mut hours.iter().copied())?;
    let mut draws: Vec<f64> = (0..resamples)
        .filter_map(|_| {
            let mut pick = (0..hours.len()).map(|_| hours[rng.random_range(0..hours.len())]);
            total(&mut pick)
        })
        .collect();
    if draws.is_empty() {
        return Some(Estimate {
            value,
            low: value,
            high: value,
        });
    }
    draws.sort_by(f64::total_cmp);
    Some(Estimate {
        value,
        low: percentile(&draws, 0.025),
        high: percentile(&draws, 0.975),
    })
}

/// The mean of per-hour `values`, with its bootstrap interval.
pub fn mean(values: &[f64], resamples: usize, rng: &mut StdRng) -> Option<Estimate> {
    let hours: Vec<(f64, f64)> = values.iter().map(|v| (*v, 1.0)).collect();
    ratio(&hours, resamples, rng)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn spearman_by_hand() {
        // Monotone but not linear: ρ = 1.
        let up = [(1.0, 1.0), (2.0, 4.0), (3.0, 9.0), (4.0, 100.0)];
        assert_eq!(spearman(&up), Some(1.0));
        let down: Vec<(f64, f64)> = up.iter().map(|(a, b)| (*a, -b)).collect();
        assert_eq!(spearman(&down), Some(-1.0));
        // Ties share ranks: x ranks 1, 2.5, 2.5, 4; y ranks 1, 2, 3, 4;
        // ρ = 4.5 / sqrt(4.5 * 5) = 0.9487.
        let tied = [(1.0, 1.0), (2.0, 2.0), (2.0, 3.0), (3.0, 4.0)];
        let rho = spearman(&tied).unwrap();
        assert!((rho - 4.5 / (4.5f64 * 5.0).sqrt()).abs() < 1e-12, "{rho}");
        assert_eq!(spearman(&[(1.0, 1.0), (2.0, 1.0), (3.0, 1.0)]), None, "constant side");
        assert_eq!(spearman(&[(1.0, 1.0), (2.0, 2.0)]), None, "too few pairs");
    }

    #[test]
    fn intervals_cover_the_value_and_narrow_with_agreement() {
        let mut rng = StdRng::seed_from_u64(1);
        let spread = mean(&[0.1, 0.5, 0.9, 0.3, 0.7], 2_000, &mut rng).unwrap();
        assert!((spread.value - 0.5).abs() < 1e-12);
        assert!(spread.low < 0.5 && spread.high > 0.5 && spread.low >= 0.1 && spread.high <= 0.9);
        let same = mean(&[0.4; 6], 500, &mut rng).unwrap();
        // Every resample is the same hours: a zero-width interval.
        assert!(
            (same.low - 0.4).abs() < 1e-12 && (same.high - same.low).abs() < 1e-12,
            "{same:?}"
        );
        assert_eq!(same.sign(), 1);
        let r = ratio(&[(1.0, 2.0), (3.0, 4.0)], 100, &mut rng).unwrap();
        assert!((r.value - 4.0 / 6.0).abs() < 1e-12);
        assert!(mean(&[], 10, &mut rng).is_none());
    }
}
