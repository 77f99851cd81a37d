use std::collections::BTreeMap;

use super::*;
use crate::livepeer::{LivepeerEvent, decode as decode_envelope};

const SAMPLE: &str = include_str!("../../../data/livepeer/ai-batch-byoc-sample.ndjson");

fn events() -> Vec<JobEvent> {
    SAMPLE
        .lines()
        .map(|line| match decode_envelope(line.as_bytes()) {
            Ok(e) => match e.event {
                LivepeerEvent::Job(job) => job,
                other => panic!("not a job event: {other:?}"),
            },
            Err(err) => panic!("{err}: {line}"),
        })
        .collect()
}

#[test]
fn every_fixture_event_decodes_with_its_subtype_inferred_where_a_relay_dropped_it() {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for e in events() {
        *counts.entry(e.subtype()).or_default() += 1;
    }
    let want: BTreeMap<&str, usize> = [
        ("ai_batch_request_received", 6),
        ("ai_batch_request_completed", 6),
        ("llm_request_started", 3),
        ("llm_stream_completed", 2),
        ("llm_request_completed", 1),
        ("job_orchestrator_token_fetch_result", 5),
        ("job_orchestrator_discovery_result", 6),
        ("job_gateway_submitted", 6),
        ("job_gateway_completed", 3),
        // Relayed, without `data.type`:
        ("job_orchestrator_received", 1),
        ("job_orchestrator_worker_result", 1),
        ("job_orchestrator_capacity_rejected", 1),
        ("job_credential_verify_result", 3),
        ("job_auth_webhook_result", 1),
        ("payment_balance_sync", 3),
        ("payment_created", 3),
        ("payment_stream_cycle", 1),
        ("payment_compute_charged", 1),
        ("payment_insufficient_balance", 1),
        // Drained, without `data.type`:
        ("worker_registered", 4),
        ("worker_capacity_exhausted", 1),
        ("worker_unregistered", 1),
    ]
    .into();
    assert_eq!(counts, want);
}

#[test]
fn null_and_empty_text_both_read_as_none_and_wei_strings_read_exactly() {
    let events = events();
    let completed: Vec<&AiBatchCompleted> = events
        .iter()
        .filter_map(|e| match e {
            JobEvent::AiBatch(AiBatch::Completed(c)) => Some(c),
            _ => None,
        })
        .collect();
    assert!(
        completed[0].error.is_none() && completed[0].error_type.is_none(),
        "\"\" on success"
    );
    let no_orch = completed.iter().find(|c| c.request_id == "7d25f6e1").expect("R5");
    assert_eq!(no_orch.error_type.as_deref(), Some("no_orchestrators"));
    assert_eq!(no_orch.orch_url, None, "\"\" orch_url: no session tried");
    let sync = events
        .iter()
        .find_map(|e| match e {
            JobEvent::Payment(p) if p.subtype == "payment_balance_sync" => Some(p),
            _ => None,
        })
        .expect("a balance sync");
    assert_eq!(sync.balance_milli_wei, Some(250_000_000));
    assert_eq!(sync.diff_milli_wei, Some(0));
    let insufficient = events
        .iter()
        .find_map(|e| match e {
            JobEvent::Payment(p) if p.subtype == "payment_insufficient_balance" => Some(p),
            _ => None,
        })
        .expect("an insufficient balance");
    assert_eq!(
        insufficient.balance_milli_wei,
        Some(90_000_000),
        "a number here, not a string"
    );
    assert_eq!(insufficient.min_balance_milli_wei, Some(180_000_000));
    let stream = events
        .iter()
        .find_map(|e| match e {
            JobEvent::Llm(Llm::Completed(c)) if c.streaming && c.finish_reason.as_deref() == Some("stop") => Some(c),
            _ => None,
        })
        .expect("R1's stream");
    assert_eq!(
        (stream.ttft_ms, stream.total_tokens, stream.error.as_deref()),
        (Some(388), 508, None)
    );
}

#[test]
fn a_drained_registration_keeps_its_models_and_its_orchestrator_id() {
    let workers: Vec<WorkerLifecycle> = events()
        .into_iter()
        .filter_map(|e| match e {
            JobEvent::Worker(w) => Some(w),
            _ => None,
        })
        .collect();
    assert_eq!(
        workers[0].event_id, workers[3].event_id,
        "line 4 is line 1 drained again"
    );
    match &workers[0].change {
        WorkerChange::Registered {
            models,
            price_per_unit,
            price_scaling,
            ..
        } => assert_eq!(
            (models.as_slice(), *price_per_unit, *price_scaling),
            (&["Qwen/Qwen2.5-7B-Instruct".to_owned()][..], 1500, 1)
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_job_events_have_reasons() {
    let envelope = |family: &str, data: &str| {
        format!(r#"{{"id":"1","type":"{family}","timestamp":"1776254700000","gateway":"g","data":{data}}}"#)
    };
    let cases = [
        (
            envelope("ai_batch_request", r#"{"type":"ai_batch_request_exploded"}"#),
            "unknown_subtype",
        ),
        (envelope("ai_batch_request", r#"{"request_id":"a"}"#), "missing_field"),
        (
            envelope(
                "ai_batch_request",
                r#"{"type":"ai_batch_request_completed","timestamp":1,"request_id":"a","pipeline":"llm","model_id":"m","success":"yes","tries":1,"duration_ms":3}"#,
            ),
            "wrong_type",
        ),
        (envelope("job_orchestrator", r#"{"capability":"c"}"#), "unknown_subtype"),
        (
            envelope("worker_lifecycle", r#"{"capability":"c","reason":"x"}"#),
            "missing_field",
        ),
        (
            envelope(
                "job_payment",
                r#"{"type":"payment_balance_sync","capability":"c","balance":"1.0001"}"#,
            ),
            "wrong_type",
        ),
        (
            envelope(
                "job_payment",
                r#"{"type":"payment_balance_sync","capability":"c","balance":"12e3"}"#,
            ),
            "wrong_type",
        ),
        (
            envelope("job_gateway", r#"{"type":"job_gateway_completed","capability":"c"}"#),
            "missing_field",
        ),
        (envelope("job_gateway", "[]"), "wrong_type"),
    ];
    for (input, reason) in cases {
        let err = decode_envelope(input.as_bytes()).expect_err(&input);
        assert_eq!(err.reason(), reason, "{input}: {err}");
    }
}

#[test]
fn milli_wei_reads_signs_and_up_to_three_decimals() {
    assert_eq!(milli_wei("f", "x", "-12.5").ok(), Some(-12_500));
    assert_eq!(milli_wei("f", "x", "0.001").ok(), Some(1));
    assert_eq!(milli_wei("f", "x", "90000").ok(), Some(90_000_000));
    assert_eq!(
        milli_wei("f", "x", "170141183460469231731687303715884105727").map_err(|e| e.reason()),
        Err("wrong_type")
    );
    for bad in ["", ".5", "1.", "1.2345", "+1", "NaN", "1 wei"] {
        assert!(milli_wei("f", "x", bad).is_err(), "{bad:?}");
    }
}
