//! Simulated go-livepeer gateway events of live video (the families and
//! fields of `data/livepeer/gateway-events-sample.ndjson`) from a network
//! whose truth is known: each orchestrator has a latent reliability and a
//! latent speed that persist from hour to hour, drift, and now and then
//! collapse in an outage. Backtests of scoring rules run on it: a rule that
//! reads the evidence well ranks orchestrators at hour h the way they serve
//! at hour h + 1.
//!
//! * Reliability (a logit) drives startup success, output viability and
//!   swaps; speed (a latency factor) drives E2E latency, prompt-to-playable
//!   and output fps. The two are independent, so a rule that ignores
//!   latency gains nothing on latency.
//! * Both drift as AR(1) processes around each orchestrator's own level.
//! * An outage (about 1 hour in 70 per orchestrator, 1 to 3 hours long)
//!   fails every startup on it.
//! * Orchestrators and gateways sit in regions; a session through a gateway
//!   of another region is slower.
//! * Each orchestrator offers one or two of three live-video models
//!   (`network_capabilities` every 15 minutes says which, so sessions are
//!   attributed to on-chain addresses); each session picks its model, then
//!   an orchestrator offering it, at random.
//!
//! Orchestrator `i` has the address it has in the other simulated families.
//! The same seed gives the same events.

use std::io::Write;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::simulate_jobs::{Events, address};

const HOUR_MS: i64 = 3_600_000;
const PIPELINE: &str = "live-video-to-video";
/// go-livepeer's capability id of live-video-to-video.
const LIVE_CAPABILITY: u32 = 35;
const REGIONS: [&str; 3] = ["us-east", "eu-west", "ap-southeast"];

/// A live-video model: its share of sessions, E2E latency and output fps
/// on a typical orchestrator.
struct Model {
    id: &'static str,
    weight: f64,
    e2e_ms: f64,
    fps: f64,
}

const MODELS: [Model; 3] = [
    Model {
        id: "streamdiffusion-sdxl",
        weight: 0.5,
        e2e_ms: 320.0,
        fps: 22.0,
    },
    Model {
        id: "streamdiffusion-sdxl-faceid",
        weight: 0.3,
        e2e_ms: 380.0,
        fps: 18.0,
    },
    Model {
        id: "streamdiffusion",
        weight: 0.2,
        e2e_ms: 180.0,
        fps: 28.0,
    },
];

/// What to simulate.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub orchestrators: usize,
    pub from_ms: i64,
    pub span_ms: i64,
    /// Sessions per orchestrator and hour, on average.
    pub sessions_per_hour: f64,
    pub seed: u64,
}

/// One orchestrator's truth.
struct Orchestrator {
    address: String,
    url: String,
    region: usize,
    models: Vec<usize>,
    /// Its own level of reliability (logit of startup success).
    level: f64,
    /// Reliability this hour: `level` plus an AR(1) drift.
    reliability: f64,
    /// Its own log speed factor (latency multiplier), and this hour's.
    speed_level: f64,
    log_speed: f64,
    /// Hours of outage left.
    outage: u32,
}

fn normal(rng: &mut StdRng) -> f64 {
    // Box–Muller.
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl Orchestrator {
    fn new(i: usize, rng: &mut StdRng) -> Self {
        let first = rng.random_range(0..MODELS.len());
        let mut models = vec![first];
        if rng.random::<f64>() < 0.5 {
            models.push((first + 1) % MODELS.len());
        }
        let level = 2.2 + 1.0 * normal(rng);
        let speed_level = 0.35 * normal(rng);
        Orchestrator {
            address: address(i).to_ascii_lowercase(),
            url: format!("https://live-{i}.sim.naap.example:8935"),
            region: i % REGIONS.len(),
            models,
            level,
            reliability: level,
            speed_level,
            log_speed: speed_level,
            outage: 0,
        }
    }

    /// The next hour's state: drift, and outages starting or ending.
    fn step(&mut self, rng: &mut StdRng) {
        self.reliability = self.level + 0.8 * (self.reliability - self.level) + 0.35 * normal(rng);
        self.log_speed = self.speed_level + 0.85 * (self.log_speed - self.speed_level) + 0.08 * normal(rng);
        self.outage = match self.outage {
            0 if rng.random::<f64>() < 1.0 / 70.0 => rng.random_range(1..=3),
            0 => 0,
            left => left - 1,
        };
    }

    fn startup_success(&self) -> f64 {
        if self.outage > 0 {
            0.02
        } else {
            sigmoid(self.reliability)
        }
    }

    fn info(&self) -> Value {
        json!({"address": self.address, "url": self.url})
    }

    /// Its `network_capabilities` entry in the snapshot numbered `tick`:
    /// its GPUs, and per model warm slots (2 to 4, in use changing from
    /// snapshot to snapshot) and a price per pixel.
    fn capability(&self, i: usize, tick: usize) -> Value {
        let slots = 2 + i % 3;
        let mut models = serde_json::Map::new();
        let mut prices = Vec::new();
        for (k, &m) in self.models.iter().enumerate() {
            let in_use = (i + k + tick) % slots;
            models.insert(
                MODELS[m].id.into(),
                json!({"warm": true, "capacity": slots, "capacityInUse": in_use}),
            );
            prices.push(json!({"pricePerUnit": 1200 + 150 * (i % 7) as u64, "pixelsPerUnit": 1,
                "capability": LIVE_CAPABILITY, "constraint": MODELS[m].id}));
        }
        let capabilities = json!({
            "capacities": {LIVE_CAPABILITY.to_string(): slots},
            "constraints": {"PerCapability": {LIVE_CAPABILITY.to_string(): {"models": models}}},
        });
        let hardware: Vec<Value> = self
            .models
            .iter()
            .map(|&m| {
                json!({"pipeline": PIPELINE, "model_id": MODELS[m].id, "gpu_info": {"0": {
                    "id": format!("GPU-{i:08x}-{m:04x}-sim"), "name": "NVIDIA GeForce RTX 4090",
                    "memory_total": 25_757_220_864_u64, "memory_free": 8_589_934_592_u64, "major": 8, "minor": 9}}})
            })
            .collect();
        json!({"address": self.address, "local_address": "", "orch_uri": self.url, "hardware": hardware,
            "capabilities": capabilities, "capabilities_prices": prices})
    }
}

/// Writes the events of `config` as NDJSON lines in publish order, hour by
/// hour (memory holds about one hour of events); returns how many.
pub fn write(config: &LiveConfig, out: &mut impl Write) -> std::io::Result<u64> {
    let n = config.orchestrators.max(1);
    let mut truth_rng = StdRng::seed_from_u64(config.seed ^ 0x5eed_0f11_7e00);
    let mut orchs: Vec<Orchestrator> = (0..n).map(|i| Orchestrator::new(i, &mut truth_rng)).collect();
    let mut ev = Events::new(config.seed);
    let mut written = 0;
    let end = config.from_ms + config.span_ms;
    let mut hour_start = config.from_ms;
    while hour_start < end {
        let hour_end = (hour_start + HOUR_MS).min(end);
        let mut snapshot = hour_start;
        while snapshot < hour_end {
            let tick = ((snapshot - config.from_ms) / (15 * 60_000)) as usize;
            let entries: Vec<Value> = orchs.iter().enumerate().map(|(i, o)| o.capability(i, tick)).collect();
            ev.push("network_capabilities", snapshot, "", Value::Array(entries));
            snapshot += 15 * 60_000;
        }
        let share = (hour_end - hour_start) as f64 / HOUR_MS as f64;
        let sessions = (config.sessions_per_hour * n as f64 * share).round() as usize;
        for _ in 0..sessions {
            let at = ev.rng.random_range(hour_start..hour_end);
            session(&mut ev, &orchs, at);
        }
        for line in ev.take_before(hour_end) {
            writeln!(out, "{line}")?;
            written += 1;
        }
        for o in &mut orchs {
            o.step(&mut truth_rng);
        }
        hour_start = hour_end;
    }
    for line in ev.take_before(i64::MAX) {
        writeln!(out, "{line}")?;
        written += 1;
    }
    Ok(written)
}

/// The events of `config`, in publish order.
pub fn events(config: &LiveConfig) -> Vec<String> {
    let mut out = Vec::new();
    write(config, &mut out).expect("writing to memory");
    String::from_utf8_lossy(&out).lines().map(str::to_owned).collect()
}

fn pick_model(rng: &mut StdRng) -> usize {
    let mut x: f64 = rng.random();
    for (m, model) in MODELS.iter().enumerate() {
        if x < model.weight {
            return m;
        }
        x -= model.weight;
    }
    MODELS.len() - 1
}

/// One session starting at `t0`, through a gateway of some region.
fn session(ev: &mut Events, orchs: &[Orchestrator], t0: i64) {
    let m = pick_model(&mut ev.rng);
    let offering: Vec<&Orchestrator> = orchs.iter().filter(|o| o.models.contains(&m)).collect();
    if offering.is_empty() {
        return;
    }
    let o = offering[ev.rng.random_range(0..offering.len())];
    let model = &MODELS[m];
    let gateway_region = ev.rng.random_range(0..REGIONS.len());
    let gateway = format!("gw-{}.sim.naap.example", REGIONS[gateway_region]);
    let distance = if gateway_region == o.region { 1.0 } else { 1.25 };
    let stream = format!("stream-sim-{:08x}", ev.rng.random::<u32>());
    let request = format!("{:08x}", ev.rng.random::<u32>());
    let ids = |data: Value| -> Value {
        let mut data = data;
        data["stream_id"] = json!(stream);
        data["request_id"] = json!(request);
        data["pipeline_id"] = json!("");
        data
    };
    let trace = |ev: &mut Events, at: i64, subtype: &str, named: bool| {
        let info = if named {
            o.info()
        } else {
            json!({"address": "", "url": ""})
        };
        ev.push(
            "stream_trace",
            at,
            &gateway,
            ids(json!({"type": subtype, "timestamp": at, "orchestrator_info": info})),
        );
    };
    trace(ev, t0, "gateway_receive_stream_request", false);
    let found: Vec<Value> = [o]
        .iter()
        .map(|c| {
            let ms = (40.0 + 80.0 * (distance - 1.0) * 4.0) * ev.rng.random_range(0.8..1.3);
            json!({"address": c.address, "latency_ms": format!("{}", ms as i64), "url": c.url})
        })
        .collect();
    ev.push("discovery_results", t0 + 250, &gateway, Value::Array(found));
    let ingest = t0 + 1_500 + ev.rng.random_range(0..500);
    trace(ev, ingest, "gateway_send_first_ingest_segment", true);
    trace(ev, ingest + 2, "runner_receive_first_ingest_segment", true);
    let speed = o.log_speed.exp() * distance;
    let duration = ev.rng.random_range(120_000..360_000);
    let end = ingest + duration;
    let prompt = t0 + 300;
    // One session in twenty: the viewer leaves before it starts (excused,
    // whatever the orchestrator).
    let user_left = ev.rng.random::<f64>() < 0.05;
    let started = !user_left && ev.rng.random::<f64>() < o.startup_success();
    if !started {
        let message = if user_left {
            "user disconnected"
        } else if o.outage > 0 {
            "no response from orchestrator: context deadline exceeded"
        } else {
            "inference pipeline crashed while loading"
        };
        let at = ingest + ev.rng.random_range(4_000..12_000);
        ev.push(
            "ai_stream_events",
            at,
            &gateway,
            ids(json!({"type": "error", "message": message, "timestamp": at, "orchestrator_info": o.info()})),
        );
        status(ev, &gateway, &ids, o, model.id, at + 1_000, prompt, "LOADING", 0.0);
        trace(ev, at + 2_000, "gateway_ingest_stream_closed", true);
        return;
    }
    let e2e = (model.e2e_ms * speed * ev.rng.random_range(0.85..1.2)) as i64;
    trace(ev, ingest + e2e, "runner_send_first_processed_segment", true);
    trace(ev, ingest + e2e + 180, "gateway_receive_first_processed_segment", true);
    let playable = prompt + (2_400.0 * speed * ev.rng.random_range(0.85..1.2)) as i64;
    trace(
        ev,
        playable.max(ingest + e2e + 400),
        "gateway_receive_few_processed_segments",
        true,
    );
    let unreliability = 1.0 - o.startup_success();
    let output_failed = ev.rng.random::<f64>() < 0.7 * unreliability;
    let swapped = ev.rng.random::<f64>() < 0.5 * unreliability;
    let fps = model.fps / speed.sqrt();
    let mut at = ingest + 10_000;
    while at < end {
        let (state, fps) = if output_failed {
            ("LOADING", 0.0)
        } else {
            ("ONLINE", fps * ev.rng.random_range(0.9..1.1))
        };
        status(ev, &gateway, &ids, o, model.id, at, prompt, state, fps);
        at += 30_000;
    }
    if swapped {
        trace(ev, ingest + duration / 2, "orchestrator_swap", true);
    }
    trace(ev, end, "gateway_ingest_stream_closed", true);
}

/// One `ai_stream_status` sample.
#[allow(clippy::too_many_arguments)]
fn status(
    ev: &mut Events,
    gateway: &str,
    ids: &dyn Fn(Value) -> Value,
    o: &Orchestrator,
    model: &str,
    at: i64,
    prompt: i64,
    state: &str,
    fps: f64,
) {
    let data = json!({"type": "status", "state": state, "pipeline": model, "orchestrator_info": o.info(),
        "start_time": prompt, "timestamp": at, "last_status_timestamp": prompt,
        "inference_status": {"fps": fps, "last_error": null, "restart_count": 0, "last_output_time": at},
        "input_status": {"fps": 20.0, "last_input_time": at}});
    ev.push("ai_stream_status", at, gateway, ids(data));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_decodes_in_order_and_the_same_seed_gives_the_same_events() {
        let config = LiveConfig {
            orchestrators: 6,
            from_ms: 1_776_254_400_000,
            span_ms: 2 * HOUR_MS,
            sessions_per_hour: 3.0,
            seed: 7,
        };
        let lines = events(&config);
        assert_eq!(lines, events(&config));
        assert!(lines.len() > 200, "{}", lines.len());
        let mut last = i64::MIN;
        let mut families = std::collections::BTreeSet::new();
        for line in &lines {
            let decoded = naap_events::livepeer::decode(line.as_bytes());
            let envelope = decoded.unwrap_or_else(|e| panic!("{line}: {e:?}"));
            assert!(envelope.timestamp_ms >= last, "published in time order");
            last = envelope.timestamp_ms;
            families.insert(envelope.family);
        }
        for family in [
            "stream_trace",
            "ai_stream_status",
            "ai_stream_events",
            "discovery_results",
            "network_capabilities",
        ] {
            assert!(families.contains(family), "{family}: {families:?}");
        }
        // The same orchestrator as in the job families.
        assert!(lines[0].contains(&address(0).to_ascii_lowercase()));
    }
}
