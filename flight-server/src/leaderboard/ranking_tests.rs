//! livepeer/naap's own ranking cases, restated.

use super::*;

fn row(uri: &str, gpu_gb: f64, price: f64, best: Option<f64>, avg: Option<f64>, swap: Option<f64>) -> Row {
    Row {
        orch_uri: uri.into(),
        gpu_name: "RTX 4090".into(),
        gpu_gb,
        avail: 3.0,
        total_cap: 4.0,
        price_per_unit: price,
        best_lat_ms: best,
        avg_lat_ms: avg,
        swap_ratio: swap,
        avg_avail: Some(3.2),
        ..Row::default()
    }
}

fn four() -> Vec<Row> {
    vec![
        row("r1", 8.0, 50.0, Some(100.0), Some(100.0), Some(0.1)),
        row("r2", 16.0, 200.0, Some(300.0), Some(300.0), Some(0.3)),
        row("r3", 24.0, 500.0, Some(500.0), Some(500.0), Some(0.6)),
        row("r4", 48.0, 1000.0, None, None, None),
    ]
}

fn uris(rows: &[Row]) -> Vec<&str> {
    rows.iter().map(|r| r.orch_uri.as_str()).collect()
}

#[test]
fn each_filter_is_an_inclusive_bound_and_missing_values_fail_latency_and_swap() {
    let cases: [(Filters, &[&str]); 8] = [
        (Filters::default(), &["r1", "r2", "r3", "r4"]),
        (
            Filters {
                gpu_ram_gb_min: Some(16.0),
                ..Default::default()
            },
            &["r2", "r3", "r4"],
        ),
        (
            Filters {
                gpu_ram_gb_max: Some(24.0),
                ..Default::default()
            },
            &["r1", "r2", "r3"],
        ),
        (
            Filters {
                price_max: Some(200.0),
                ..Default::default()
            },
            &["r1", "r2"],
        ),
        (
            Filters {
                max_avg_latency_ms: Some(300.0),
                ..Default::default()
            },
            &["r1", "r2"],
        ),
        (
            Filters {
                max_swap_ratio: Some(0.3),
                ..Default::default()
            },
            &["r1", "r2"],
        ),
        (
            Filters {
                max_swap_ratio: Some(0.1),
                ..Default::default()
            },
            &["r1"],
        ),
        (
            Filters {
                gpu_ram_gb_min: Some(16.0),
                price_max: Some(200.0),
                ..Default::default()
            },
            &["r2"],
        ),
    ];
    for (filters, want) in cases {
        assert_eq!(uris(&filter(four(), &filters)), want, "{filters:?}");
    }
}

#[test]
fn weights_merge_over_the_defaults_and_normalise() {
    let w = |l, s, p| GivenWeights {
        latency: l,
        swap_rate: s,
        price: p,
        ..GivenWeights::default()
    };
    assert_eq!(Weights::from_given(GivenWeights::default()), Weights::DEFAULT);
    let scaled = Weights::from_given(w(Given::Value(4.0), Given::Value(3.0), Given::Value(3.0)));
    assert!((scaled.latency - 0.4).abs() < 1e-12 && (scaled.price - 0.3).abs() < 1e-12);
    // A missing key keeps its default; null counts 0; negatives count 0.
    let only_latency = Weights::from_given(w(Given::Value(1.0), Given::Null, Given::Value(-5.0)));
    assert_eq!(
        only_latency,
        Weights {
            latency: 1.0,
            swap_rate: 0.0,
            price: 0.0,
            sla: 0.0,
            jobs: 0.0
        }
    );
    let partial = Weights::from_given(w(Given::Absent, Given::Absent, Given::Value(0.0)));
    assert!((partial.latency - 0.4 / 0.7).abs() < 1e-12, "{partial:?}");
    // All zero: the defaults.
    assert_eq!(
        Weights::from_given(w(Given::Null, Given::Null, Given::Null)),
        Weights::DEFAULT
    );
}

#[test]
fn rerank_scales_min_max_with_null_half_and_equal_one() {
    let three = vec![
        row("slow", 24.0, 1000.0, Some(500.0), None, Some(0.6)),
        row("fast", 24.0, 50.0, Some(50.0), None, Some(0.05)),
        row("mid", 24.0, 300.0, Some(200.0), None, Some(0.2)),
    ];
    let ranked = rerank(three, Weights::DEFAULT);
    let scores: Vec<(&str, f64)> = ranked
        .iter()
        .map(|r| (r.orch_uri.as_str(), r.sla_score.unwrap()))
        .collect();
    assert_eq!(scores, [("fast", 1.0), ("mid", 0.706), ("slow", 0.0)]);
    // One row: every range is one value, so every metric scores 1.
    let one = rerank(
        vec![row("only", 24.0, 100.0, Some(50.0), None, Some(0.05))],
        Weights::DEFAULT,
    );
    assert_eq!(one[0].sla_score, Some(1.0));
    // A missing latency scores 0.5 on that metric.
    let with_null = rerank(
        vec![
            row("a", 24.0, 50.0, None, None, Some(0.05)),
            row("b", 24.0, 1000.0, Some(500.0), None, Some(0.6)),
            row("c", 24.0, 500.0, Some(50.0), None, Some(0.3)),
        ],
        Weights::DEFAULT,
    );
    assert_eq!(
        with_null.iter().find(|r| r.orch_uri == "a").unwrap().sla_score,
        Some(0.8)
    );
}

#[test]
fn custom_weights_reorder_and_the_route_fixture_ranks_as_upstream() {
    let pair = || {
        vec![
            row("low-lat", 24.0, 900.0, Some(10.0), None, Some(0.9)),
            row("low-price", 24.0, 10.0, Some(900.0), None, Some(0.9)),
        ]
    };
    let latency_only = GivenWeights {
        latency: Given::Value(1.0),
        swap_rate: Given::Value(0.0),
        price: Given::Value(0.0),
        ..GivenWeights::default()
    };
    let price_only = GivenWeights {
        latency: Given::Value(0.0),
        swap_rate: Given::Value(0.0),
        price: Given::Value(1.0),
        ..GivenWeights::default()
    };
    assert_eq!(uris(&rerank(pair(), Weights::from_given(latency_only)))[0], "low-lat");
    assert_eq!(uris(&rerank(pair(), Weights::from_given(price_only)))[0], "low-price");
    let default: Vec<Option<f64>> = rerank(pair(), Weights::DEFAULT).iter().map(|r| r.sla_score).collect();
    assert_eq!(default, [Some(0.7), Some(0.6)]);
    // The route test's three orchestrators, weights 0.5 / 0.3 / 0.2.
    let fixture = vec![
        row("orch-1", 24.0, 100.0, Some(50.0), Some(80.0), Some(0.05)),
        row("orch-2", 80.0, 500.0, Some(200.0), Some(350.0), Some(0.3)),
        row("orch-3", 24.0, 80.0, None, None, None),
    ];
    let given = GivenWeights {
        latency: Given::Value(0.5),
        swap_rate: Given::Value(0.3),
        price: Given::Value(0.2),
        ..GivenWeights::default()
    };
    let ranked = rerank(fixture, Weights::from_given(given));
    let scores: Vec<(&str, f64)> = ranked
        .iter()
        .map(|r| (r.orch_uri.as_str(), r.sla_score.unwrap()))
        .collect();
    assert_eq!(scores, [("orch-1", 0.99), ("orch-3", 0.6), ("orch-2", 0.0)]);
}

#[test]
fn without_weights_rows_follow_latency_swing_price() {
    let ordered = default_order(four().into_iter().rev().collect());
    assert_eq!(uris(&ordered), ["r1", "r2", "r3", "r4"]);
}

#[test]
fn naaps_sla_and_jobs_weights_rank_by_the_rules_scores_and_default_to_nothing() {
    let scored = |uri: &str, sla: Option<f64>, jobs: Option<f64>| {
        let mut r = row(uri, 24.0, 100.0, Some(100.0), None, Some(0.1));
        r.naap.sla_score = sla;
        r.naap.jobs_score = jobs;
        r
    };
    let rows = || {
        vec![
            scored("weak", Some(0.2), Some(0.9)),
            scored("strong", Some(0.9), Some(0.1)),
            scored("unknown", None, None),
        ]
    };
    let only = |sla, jobs| GivenWeights {
        latency: Given::Value(0.0),
        swap_rate: Given::Value(0.0),
        price: Given::Value(0.0),
        sla: Given::Value(sla),
        jobs: Given::Value(jobs),
    };
    let by_sla = rerank(rows(), Weights::from_given(only(1.0, 0.0)));
    assert_eq!(uris(&by_sla), ["strong", "unknown", "weak"], "no score is 0.5, not 0");
    let by_jobs = rerank(rows(), Weights::from_given(only(0.0, 1.0)));
    assert_eq!(uris(&by_jobs), ["weak", "unknown", "strong"]);
    // Without them, the plugin's weights alone: equal rows keep their order.
    assert_eq!(uris(&rerank(rows(), Weights::DEFAULT)), ["weak", "strong", "unknown"]);
}
