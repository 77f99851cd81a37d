//! Discovery order for python-gateway, as livepeer/naap shapes it: the
//! ranked addresses cut into tiers of about equal size (five, or fewer so
//! that a tier holds two or more), each shuffled on its own, so gateways
//! spread their load within a tier and never prefer a lower tier.

/// The number of tiers for `n` addresses and at most `tiers` of them.
pub fn tier_count(n: usize, tiers: usize) -> usize {
    if n <= 1 {
        return 1;
    }
    let target = n.div_ceil(tiers.max(1)).max(2);
    n.div_ceil(target).clamp(1, n)
}

/// The half-open ranges of `k` contiguous tiers over `n` items, the first
/// `n % k` one longer.
pub fn tier_ranges(n: usize, k: usize) -> Vec<std::ops::Range<usize>> {
    let k = k.clamp(1, n.max(1));
    let (base, rest) = (n / k, n % k);
    let mut start = 0;
    (0..k)
        .map(|i| {
            let len = base + usize::from(i < rest);
            let range = start..start + len;
            start += len;
            range
        })
        .collect()
}

/// `addresses` trimmed, without empties and repeats (the first kept), then
/// shuffled within tiers with `random` (uniform in 0..1, called tier by
/// tier, Fisher-Yates from the end).
pub fn shuffle_in_tiers(addresses: &[String], tiers: usize, mut random: impl FnMut() -> f64) -> Vec<String> {
    let mut unique: Vec<String> = Vec::new();
    for a in addresses.iter().map(|a| a.trim()).filter(|a| !a.is_empty()) {
        if !unique.iter().any(|u| u == a) {
            unique.push(a.to_owned());
        }
    }
    if unique.len() <= 1 {
        return unique;
    }
    for range in tier_ranges(unique.len(), tier_count(unique.len(), tiers)) {
        let tier = &mut unique[range];
        for i in (1..tier.len()).rev() {
            let j = ((random() * (i + 1) as f64) as usize).min(i);
            tier.swap(i, j);
        }
    }
    unique
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_hold_two_or_more_and_five_at_most() {
        for (n, k) in [(0, 1), (1, 1), (2, 1), (3, 2), (7, 4), (10, 5), (25, 5), (100, 5)] {
            assert_eq!(tier_count(n, 5), k, "{n}");
        }
        let sizes = |n, k| tier_ranges(n, k).iter().map(|r| r.len()).collect::<Vec<_>>();
        assert_eq!(sizes(7, 4), [2, 2, 2, 1]);
        assert_eq!(sizes(11, 4), [3, 3, 3, 2]);
        assert_eq!(sizes(25, 5), [5; 5]);
        assert_eq!(tier_ranges(11, 4)[3], 9..11);
    }

    #[test]
    fn shuffles_stay_within_tiers() {
        let list = |s: &[&str]| s.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        // A draw near 1 swaps nothing; trimming and repeats go first.
        assert_eq!(
            shuffle_in_tiers(
                &list(&[" https://a ", "https://b", "https://a", "https://c"]),
                5,
                || 0.999_999
            ),
            list(&["https://a", "https://b", "https://c"])
        );
        // A draw of 0 swaps each pair of two tiers.
        assert_eq!(
            shuffle_in_tiers(&list(&["a", "b", "c", "d"]), 2, || 0.0),
            list(&["b", "a", "d", "c"])
        );
        let ten = list(&["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]);
        let mut draws = [0.1, 0.9, 0.2, 0.8, 0.3, 0.7, 0.4, 0.6, 0.55, 0.45].into_iter().cycle();
        let shuffled = shuffle_in_tiers(&ten, 5, || draws.next().unwrap_or(0.5));
        for pair in 0..5 {
            let mut got = shuffled[2 * pair..2 * pair + 2].to_vec();
            got.sort();
            assert_eq!(got, ten[2 * pair..2 * pair + 2], "{shuffled:?}");
        }
    }
}
