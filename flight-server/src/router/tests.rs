use rand::rngs::StdRng;

use super::*;

fn candidate(address: &str, score: Option<f64>, price: Option<f64>, latency: Option<f64>) -> Candidate {
    Candidate {
        address: address.into(),
        uri: format!("https://{address}:8935"),
        score,
        price_wei_per_pixel: price,
        latency_ms: latency,
        window_start: None,
    }
}

fn request(n: usize, explore: f64) -> SelectRequest {
    SelectRequest {
        pipeline: "live-video-to-video".into(),
        model: "streamdiffusion".into(),
        region: None,
        max_price: None,
        n,
        min_score: 0.5,
        explore,
        within: Within::DEFAULT,
    }
}

#[test]
fn low_scorers_and_overpriced_candidates_are_excluded() {
    let picked = select(
        vec![
            candidate("0xlow", Some(0.49), Some(100.0), Some(10.0)),
            candidate("0xok", Some(0.9), Some(100.0), Some(10.0)),
            candidate("0xdear", Some(0.95), Some(5000.0), Some(10.0)),
        ],
        &SelectRequest {
            max_price: Some(1000.0),
            ..request(3, 0.0)
        },
        &Weights::default(),
        &mut StdRng::seed_from_u64(7),
    );
    let addresses: Vec<&str> = picked.iter().map(|c| c.candidate.address.as_str()).collect();
    assert_eq!(addresses, ["0xok"]);
}

#[test]
fn ranking_follows_the_documented_weights() {
    // a: 0.6*0.9 + 0.2*(100/200) + 0.2*(10/10) = 0.54 + 0.1 + 0.2 = 0.84
    // b: 0.6*0.8 + 0.2*(100/100) + 0.2*(10/40) = 0.48 + 0.2 + 0.05 = 0.73
    // c: 0.6*0.7 + 0.2*0.5 (no price seen) + 0.2*(10/20) = 0.42 + 0.1 + 0.1 = 0.62
    // d: 0.6*1.0 + 0.2*(100/400) + 0.2*0.5 (no latency) = 0.6 + 0.05 + 0.1 = 0.75
    let picked = select(
        vec![
            candidate("0xa", Some(0.9), Some(200.0), Some(10.0)),
            candidate("0xb", Some(0.8), Some(100.0), Some(40.0)),
            candidate("0xc", Some(0.7), None, Some(20.0)),
            candidate("0xd", Some(1.0), Some(400.0), None),
        ],
        &request(4, 0.0),
        &Weights::default(),
        &mut StdRng::seed_from_u64(7),
    );
    let got: Vec<(&str, f64)> = picked
        .iter()
        .map(|c| {
            (
                c.candidate.address.as_str(),
                (c.value.unwrap_or(-1.0) * 1000.0).round() / 1000.0,
            )
        })
        .collect();
    assert_eq!(got, [("0xa", 0.84), ("0xd", 0.75), ("0xb", 0.73), ("0xc", 0.62)]);
    assert!(picked.iter().all(|c| c.reason == Pick::Ranked));
    // Price only: the cheapest wins.
    let price_only = Weights {
        score: 0.0,
        price: 1.0,
        latency: 0.0,
    };
    let picked = select(
        vec![
            candidate("0xa", Some(0.9), Some(200.0), Some(10.0)),
            candidate("0xb", Some(0.8), Some(100.0), Some(40.0)),
        ],
        &request(1, 0.0),
        &price_only,
        &mut StdRng::seed_from_u64(7),
    );
    assert_eq!(picked[0].candidate.address, "0xb");
}

#[test]
fn the_exploration_share_is_honoured_over_many_draws() {
    let mut pool: Vec<Candidate> = (0..10)
        .map(|i| candidate(&format!("0xscored{i}"), Some(0.9), Some(100.0), Some(10.0)))
        .collect();
    pool.extend((0..40).map(|i| candidate(&format!("0xnew{i}"), None, None, None)));
    let mut rng = StdRng::seed_from_u64(42);
    let draws = 20_000;
    let mut explored = 0;
    let mut newcomers = std::collections::HashSet::new();
    for _ in 0..draws {
        let picked = select(pool.clone(), &request(1, 0.2), &Weights::default(), &mut rng);
        assert_eq!(picked.len(), 1);
        if picked[0].reason == Pick::Explore {
            assert!(picked[0].candidate.score.is_none());
            newcomers.insert(picked[0].candidate.address.clone());
            explored += 1;
        } else {
            assert!(picked[0].candidate.score.is_some());
        }
    }
    // Binomial(20000, 0.2): sd = sqrt(20000 * 0.2 * 0.8) ≈ 57; allow 5 sd.
    let expected = draws as f64 * 0.2;
    assert!(
        ((explored as f64) - expected).abs() < 5.0 * 57.0,
        "{explored} of {draws}"
    );
    // Uniform over the newcomers: every one of the 40 was tried.
    assert_eq!(newcomers.len(), 40);
}

#[test]
fn one_kind_fills_the_slots_when_the_other_runs_out() {
    let pool = vec![
        candidate("0xa", Some(0.9), None, None),
        candidate("0xnew", None, None, None),
    ];
    let picked = select(
        pool,
        &request(5, 0.0),
        &Weights::default(),
        &mut StdRng::seed_from_u64(1),
    );
    let reasons: Vec<Pick> = picked.iter().map(|c| c.reason).collect();
    assert_eq!(reasons, [Pick::Ranked, Pick::Explore]);
}
