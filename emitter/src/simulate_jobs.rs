//! Simulated go-livepeer gateway events of the 2026 families: AI batch and
//! LLM requests, BYOC jobs with what orchestrators relay, BYOC auth and
//! payments, and drained worker lifecycle events, as NDJSON lines in the
//! shapes gateways publish (`../shared/livepeer/events-2026.md` in the
//! development checkout), quirks included: relayed and drained events carry
//! no `data.type`, addresses come EIP-55 from some paths and lowercase from
//! others, wei balances are strings with three decimals, and a second
//! gateway drains a runner's registration again under the same id, and a
//! stream now and then breaks after its first chunk.
//!
//! Of N orchestrators, orchestrator `i` (from 0) is slower (up to 3×) and
//! fails more (up to 12 %) the larger `i / N` is, so scores rank them;
//! orchestrator 0's BYOC runner is free (no payment events). The same seed
//! gives the same events.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const GATEWAYS: [&str; 2] = ["gw-sim-1.naap.example", "gw-sim-2.naap.example"];
const SENDER: &str = "0x6a1c9E3F5b7D2A4C8E0F1B3d5a7C9E2F4B6d8a0C";
const CHAT: &str = "openai-chat-completions";
const CHAT_MODELS: [&str; 2] = ["Qwen/Qwen2.5-7B-Instruct", "meta-llama/Llama-3.1-8B-Instruct"];
const LLM_MODEL: &str = "meta-llama/Meta-Llama-3.1-8B-Instruct";
const IMAGE_MODEL: &str = "stabilityai/sdxl-turbo";

/// One simulated orchestrator.
struct Orchestrator {
    /// EIP-55-looking (mixed case), as the drain and payment paths send it.
    checksummed: String,
    url: String,
    runner: String,
    model: &'static str,
    price: i64,
    /// How much slower than orchestrator 0.
    slowness: f64,
    failure_rate: f64,
}

impl Orchestrator {
    /// Orchestrator `i` of `n`: slowness and failures grow with `i / n`.
    fn new(i: usize, n: usize) -> Self {
        let share = if n > 1 { i as f64 / (n - 1) as f64 } else { 0.0 };
        Orchestrator {
            checksummed: address(i),
            url: format!("https://orch-{i}.sim.naap.example:8935"),
            runner: format!("http://byoc-runner-{i}.sim.naap.example:9000"),
            model: CHAT_MODELS[i % CHAT_MODELS.len()],
            price: if i == 0 { 0 } else { 1000 + 250 * (i as i64 % 8) },
            slowness: 1.0 + 2.0 * share,
            failure_rate: 0.12 * share,
        }
    }

    fn info(&self, lowercase: bool) -> Value {
        let address = if lowercase {
            self.checksummed.to_ascii_lowercase()
        } else {
            self.checksummed.clone()
        };
        json!({"address": address, "url": self.url})
    }
}

/// Simulated orchestrator `i`'s on-chain address: distinct per
/// orchestrator, mixed case as EIP-55 writes it. Every simulated family
/// names orchestrator `i` by it.
pub(crate) fn address(i: usize) -> String {
    let bits = (i as u128 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
    let hex: String = format!("{:032x}{:08x}", bits, i)
        .chars()
        .enumerate()
        .map(|(k, c)| if k % 3 == 0 { c.to_ascii_uppercase() } else { c })
        .collect();
    format!("0x{hex}")
}

/// Writes the events in publish order.
pub(crate) struct Events {
    pub(crate) rng: StdRng,
    pub(crate) lines: Vec<(i64, String)>,
}

impl Events {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            lines: Vec::new(),
        }
    }

    /// The lines published before `before_ms`, in publish order, taken out.
    pub(crate) fn take_before(&mut self, before_ms: i64) -> Vec<String> {
        self.lines.sort_by_key(|(at, _)| *at);
        let later = self.lines.partition_point(|(at, _)| *at < before_ms);
        let rest = self.lines.split_off(later);
        std::mem::replace(&mut self.lines, rest)
            .into_iter()
            .map(|(_, line)| line)
            .collect()
    }

    pub(crate) fn id(&mut self) -> String {
        let a: u128 = self.rng.random();
        let h = format!("{a:032x}");
        format!(
            "{}-{}-4{}-a{}-{}",
            &h[..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }

    pub(crate) fn push(&mut self, family: &str, at_ms: i64, gateway: &str, data: Value) {
        let envelope = json!({
            "id": self.id(),
            "type": family,
            "timestamp": at_ms.to_string(),
            "gateway": gateway,
            "data": data,
        });
        self.lines.push((at_ms, envelope.to_string()));
    }
}

/// The events of `orchestrators` (at least 1) from `from_ms` for `span_ms`,
/// sorted by publish time.
pub fn events(orchestrators: usize, from_ms: i64, span_ms: i64, seed: u64) -> Vec<String> {
    let n = orchestrators.max(1);
    let orchs: Vec<Orchestrator> = (0..n).map(|i| Orchestrator::new(i, n)).collect();
    let mut ev = Events::new(seed);
    for o in &orchs {
        drain_registration(&mut ev, o, from_ms + 5_000);
    }
    let minutes = (span_ms / 60_000).max(1);
    for m in 0..minutes {
        let at = from_ms + m * 60_000 + 10_000;
        // Each request picks its orchestrator at random.
        let o = &orchs[ev.rng.random_range(0..n)];
        image_request(&mut ev, o, at, m);
        let o = &orchs[ev.rng.random_range(0..n)];
        if m % 2 == 0 {
            llm_request(&mut ev, o, at + 20_000, m);
        } else {
            byoc_job(&mut ev, o, at + 20_000, m);
        }
    }
    ev.take_before(i64::MAX)
}

/// A runner registers; two gateways drain the same orchestrator event.
fn drain_registration(ev: &mut Events, o: &Orchestrator, at: i64) {
    let worker_event = ev.id();
    for (k, gateway) in GATEWAYS.iter().enumerate() {
        let data = json!({
            "capability": CHAT,
            "id": worker_event,
            "orchestrator_info": o.info(false),
            "price_per_unit": o.price,
            "price_scaling": 1,
            "worker_options": [{"model": o.model, "max_model_len": 32768}],
            "worker_options_count": 1,
            "worker_url": o.runner,
        });
        ev.push("worker_lifecycle", at + 2_000 * k as i64, gateway, data);
    }
}

fn request_id(ev: &mut Events) -> String {
    format!("{:08x}", ev.rng.random::<u32>())
}

/// A text-to-image request; one in ten finds no orchestrator.
fn image_request(ev: &mut Events, o: &Orchestrator, at: i64, minute: i64) {
    let id = request_id(ev);
    let gateway = GATEWAYS[0];
    let received = json!({"model_id": IMAGE_MODEL, "orchestrator": "", "pipeline": "text-to-image",
        "request_id": id, "timestamp": at, "type": "ai_batch_request_received"});
    ev.push("ai_batch_request", at, gateway, received);
    let no_orch = minute % 10 == 9;
    let failed = !no_orch && ev.rng.random::<f64>() < o.failure_rate;
    let duration = if no_orch {
        4
    } else {
        (1500.0 * o.slowness * ev.rng.random_range(0.8..1.2)) as i64
    };
    let (error, error_type) = match (no_orch, failed) {
        (true, _) => ("no orchestrators available", "no_orchestrators"),
        (_, true) => ("context deadline exceeded", "timeout"),
        _ => ("", ""),
    };
    let completed = json!({"duration_ms": duration, "error": error, "error_type": error_type,
        "latency_score": 0.01, "model_id": IMAGE_MODEL, "orch_url": if no_orch { "" } else { &o.url },
        "pipeline": "text-to-image", "price_per_unit": 4_000_000, "request_id": id, "success": !no_orch && !failed,
        "timestamp": at + duration, "tries": 1, "type": "ai_batch_request_completed"});
    ev.push("ai_batch_request", at + duration, gateway, completed);
}

/// An LLM request, streamed on even minutes of four: TTFT and tokens per
/// second get worse with the orchestrator's slowness.
fn llm_request(ev: &mut Events, o: &Orchestrator, at: i64, minute: i64) {
    let id = request_id(ev);
    let gateway = GATEWAYS[1];
    let streaming = minute % 4 == 0;
    ev.push(
        "ai_batch_request",
        at,
        gateway,
        json!({"model_id": LLM_MODEL, "orchestrator": "",
        "pipeline": "llm", "request_id": id, "timestamp": at, "type": "ai_batch_request_received"}),
    );
    ev.push(
        "ai_llm_request",
        at + 30,
        gateway,
        json!({"max_tokens": 512, "message_count": 2,
        "model": LLM_MODEL, "orch_url": o.url, "price_per_unit": 40_000_000, "request_id": id,
        "streaming": streaming, "system_prompt": true, "temperature": 0.7, "timestamp": at + 30,
        "type": "llm_request_started"}),
    );
    let completion_tokens: i64 = ev.rng.random_range(64..400);
    let tokens_per_second = 90.0 / o.slowness * ev.rng.random_range(0.85..1.15);
    let generation_ms = (completion_tokens as f64 / tokens_per_second * 1000.0) as i64;
    let ttft = (350.0 * o.slowness * ev.rng.random_range(0.8..1.2)) as i64;
    // A stream's batch event fires when the stream starts; a plain call's
    // when it ends.
    let batch_ms = if streaming { ttft + 20 } else { generation_ms + 40 };
    ev.push(
        "ai_batch_request",
        at + batch_ms,
        gateway,
        json!({"duration_ms": batch_ms, "error": "",
        "error_type": "", "latency_score": 0.008, "model_id": LLM_MODEL, "orch_url": o.url, "pipeline": "llm",
        "price_per_unit": 40_000_000, "request_id": id, "success": true, "timestamp": at + batch_ms, "tries": 1,
        "type": "ai_batch_request_completed"}),
    );
    let end = at + generation_ms + if streaming { ttft } else { 30 };
    let mut done = json!({"completion_id": format!("chatcmpl-{id}"), "completion_tokens": completion_tokens,
        "error": "", "finish_reason": "stop", "latency_score": 0.009, "max_tokens_requested": 512,
        "model": LLM_MODEL, "orch_url": o.url, "price_per_unit": 40_000_000, "prompt_tokens": 120,
        "request_id": id, "timestamp": end, "token_utilization": completion_tokens as f64 / 512.0,
        "tokens_per_second": tokens_per_second, "total_duration_ms": end - at, "total_tokens": completion_tokens + 120,
        "type": if streaming { "llm_stream_completed" } else { "llm_request_completed" }});
    if streaming {
        done["ttft_ms"] = json!(ttft);
    }
    // A stream of a slower orchestrator breaks after its first chunk now
    // and then (five times its failure rate): usage zero, finish_reason
    // error, though the batch event said success when the stream started.
    if streaming && ev.rng.random::<f64>() < 5.0 * o.failure_rate {
        for (key, value) in [
            ("completion_tokens", json!(0)),
            ("prompt_tokens", json!(0)),
            ("total_tokens", json!(0)),
            ("tokens_per_second", json!(0)),
            ("token_utilization", json!(0)),
            ("latency_score", json!(0)),
            ("finish_reason", json!("error")),
            ("error", json!("unexpected EOF")),
        ] {
            done[key] = value;
        }
    }
    ev.push("ai_llm_request", end, gateway, done);
}

/// A BYOC chat job on `o`; one in eight has its signature refused.
fn byoc_job(ev: &mut Events, o: &Orchestrator, at: i64, minute: i64) {
    let gateway = GATEWAYS[0];
    ev.push(
        "job_gateway",
        at,
        gateway,
        json!({"capability": CHAT, "error": null, "selected": 1,
        "success": true, "type": "job_orchestrator_discovery_result"}),
    );
    ev.push(
        "job_gateway",
        at + 1,
        gateway,
        json!({"attempt_index": 0, "capability": CHAT,
        "orchestrator_info": o.info(true), "request_id": "", "type": "job_gateway_submitted"}),
    );
    if o.price > 0 {
        ev.push(
            "job_payment",
            at + 2,
            gateway,
            json!({"balance": "250000.000", "capability": CHAT,
            "diff": "0.000", "min_bal_covered": true, "orchestrator_addr": o.checksummed,
            "orchestrator_info": o.info(false), "request_id": "", "reset_to_zero": false, "sender": SENDER,
            "type": "payment_balance_sync"}),
        );
    }
    if minute % 8 == 7 {
        // Relayed: no data.type, no capability on a failed check.
        ev.push(
            "job_auth",
            at + 25,
            gateway,
            json!({"error": "signature verification failed",
            "orchestrator_info": o.info(true), "sender": SENDER, "success": false}),
        );
        return;
    }
    let duration = (2000.0 * o.slowness * ev.rng.random_range(0.8..1.2)) as i64;
    let done = at + duration;
    let failed = ev.rng.random::<f64>() < o.failure_rate;
    ev.push(
        "job_auth",
        done - 1,
        gateway,
        json!({"capability": CHAT, "error": null,
        "orchestrator_info": o.info(true), "sender": SENDER, "success": true, "worker_url": o.runner}),
    );
    ev.push(
        "job_orchestrator",
        done - 1,
        gateway,
        json!({"capability": CHAT, "has_payment": o.price > 0,
        "orchestrator_info": o.info(true), "pixels_per_unit": 1, "price_per_unit": o.price, "request_id": "",
        "sender_address": SENDER, "timeout_ms": 60000, "worker_url": o.runner}),
    );
    let status = if failed { 500 } else { 200 };
    ev.push("job_orchestrator", done - 1, gateway, json!({"capability": CHAT, "charged_compute": o.price > 0,
        "completed_at": done - 2, "duration_ms": duration - 80, "error": if failed { json!("worker error") } else { Value::Null },
        "http_status": status, "orchestrator_info": o.info(true), "request_id": "", "retryable": false,
        "success": !failed, "worker_url": o.runner}));
    if o.price > 0 {
        let seconds = (duration + 999) / 1000;
        ev.push(
            "job_payment",
            done - 1,
            gateway,
            json!({"balance_after": 250000 - o.price * seconds,
            "capability": CHAT, "elapsed_seconds": seconds, "on_error": failed, "orchestrator_info": o.info(true),
            "price_per_unit": o.price, "request_id": "", "sender_address": SENDER,
            "total_charged": o.price * seconds}),
        );
    }
    ev.push(
        "job_gateway",
        done,
        gateway,
        json!({"attempt_index": 0, "capability": CHAT, "completed_at": done,
        "duration_ms": duration, "error": null, "http_status": status, "orchestrator_info": o.info(true),
        "request_id": "", "success": !failed, "type": "job_gateway_completed"}),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_decodes_and_the_same_seed_gives_the_same_events() {
        let addresses: std::collections::BTreeSet<String> = (0..50)
            .map(|i| Orchestrator::new(i, 50).checksummed.to_ascii_lowercase())
            .collect();
        assert_eq!(addresses.len(), 50, "every orchestrator has its own address");
        assert!(addresses.iter().all(|a| a.len() == 42 && a.starts_with("0x")));
        let lines = events(4, 1_776_254_400_000, 3_600_000, 7);
        assert_eq!(lines, events(4, 1_776_254_400_000, 3_600_000, 7));
        assert!(lines.len() > 300, "{}", lines.len());
        for line in &lines {
            let decoded = naap_events::livepeer::decode(line.as_bytes());
            assert!(decoded.is_ok(), "{line}: {decoded:?}");
        }
        let families: std::collections::BTreeSet<&str> = lines
            .iter()
            .map(|l| {
                let v: Value = serde_json::from_str(l).expect("JSON");
                match v["type"].as_str() {
                    Some("job_orchestrator") => "job_orchestrator",
                    Some("worker_lifecycle") => "worker_lifecycle",
                    Some("job_auth") => "job_auth",
                    Some("job_payment") => "job_payment",
                    Some("job_gateway") => "job_gateway",
                    Some("ai_llm_request") => "ai_llm_request",
                    Some("ai_batch_request") => "ai_batch_request",
                    _ => "other",
                }
            })
            .collect();
        assert_eq!(families.len(), 7, "{families:?}");
    }
}
