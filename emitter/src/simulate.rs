//! A deterministic synthetic network of orchestrators.
//!
//! Every orchestrator has a region, one or two nodes, a latency profile
//! (log-normal around a regional median, as seen by two regional probers)
//! and an outage profile: a flapping node is unreachable for a fixed number
//! of seconds in every minute, during which it sends no heartbeat and every
//! probe of it fails. Everything is a pure function of (seed, orchestrator,
//! time), so two runs over the same span produce the same events with the
//! same ids, which the recovery tests rely on.

use naap_events::telemetry::{GpuSample, TelemetryEvent};
use naap_events::{EventId, OrchestratorAddress};

/// Regions the simulated orchestrators live in.
pub const REGIONS: [&str; 6] = ["us-east", "us-west", "eu-west", "eu-central", "ap-southeast", "sa-east"];
/// Outage seconds per minute, by orchestrator index modulo the length.
pub const OUTAGE_CLASSES: [u32; 9] = [0, 0, 0, 0, 5, 10, 20, 30, 45];
/// The probers that measure every orchestrator: (node id, region).
pub const PROBERS: [(&str, &str); 2] = [("prober-us-east", "us-east"), ("prober-eu-west", "eu-west")];

/// Knobs of the simulation.
#[derive(Debug, Clone)]
pub struct SimulationConfig {
    pub orchestrators: usize,
    pub seed: u64,
    pub heartbeat_interval_ms: u32,
    pub probe_interval_ms: u32,
    pub gpu_interval_ms: u32,
}

impl Default for SimulationConfig {
    fn default() -> Self {
        Self {
            orchestrators: 50,
            seed: 42,
            heartbeat_interval_ms: 5_000,
            probe_interval_ms: 10_000,
            gpu_interval_ms: 15_000,
        }
    }
}

/// One simulated orchestrator.
#[derive(Debug, Clone)]
pub struct SimulatedOrchestrator {
    pub address: OrchestratorAddress,
    pub region: &'static str,
    pub nodes: Vec<String>,
    pub outage_secs_per_minute: u32,
    pub outage_offset_secs: u32,
    pub latency_median_ms: f64,
    phase_ms: i64,
}

impl SimulatedOrchestrator {
    /// Whether the orchestrator is unreachable at `t` (UTC ms).
    pub fn is_down(&self, t: i64) -> bool {
        if self.outage_secs_per_minute == 0 {
            return false;
        }
        let second = t.div_euclid(1000).rem_euclid(60) as u32;
        (second + 60 - self.outage_offset_secs) % 60 < self.outage_secs_per_minute
    }
}

/// The simulated network.
#[derive(Debug, Clone)]
pub struct Simulation {
    config: SimulationConfig,
    orchestrators: Vec<SimulatedOrchestrator>,
}

/// SplitMix64: a tiny, well-mixed hash for deterministic pseudo-randomness.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn hash(parts: &[u64]) -> u64 {
    parts.iter().fold(0x51_7cc1_b727_220a, |h, p| mix(h ^ mix(*p)))
}

fn unit(h: u64) -> f64 {
    ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

impl Simulation {
    pub fn new(config: SimulationConfig) -> Self {
        let orchestrators = (0..config.orchestrators)
            .map(|i| {
                let i64_ = i as u64;
                // The address orchestrator `i` has in the simulated gateway
                // families too, whatever the seed: its node telemetry, its
                // sessions and its jobs are one orchestrator's.
                let address = crate::simulate_jobs::address(i)
                    .to_ascii_lowercase()
                    .parse()
                    .expect("40 hex digits form an address");
                let region = REGIONS[i % REGIONS.len()];
                let nodes = if i % 10 == 3 {
                    vec![format!("node-{i}-a"), format!("node-{i}-b")]
                } else {
                    vec![format!("node-{i}")]
                };
                SimulatedOrchestrator {
                    address,
                    region,
                    nodes,
                    outage_secs_per_minute: OUTAGE_CLASSES[i % OUTAGE_CLASSES.len()],
                    outage_offset_secs: ((i * 17) % 60) as u32,
                    latency_median_ms: 15.0 + 25.0 * unit(hash(&[config.seed, i64_, 4])),
                    phase_ms: (hash(&[config.seed, i64_, 5]) % 1000) as i64,
                }
            })
            .collect();
        Self { config, orchestrators }
    }

    pub fn config(&self) -> &SimulationConfig {
        &self.config
    }

    pub fn orchestrators(&self) -> &[SimulatedOrchestrator] {
        &self.orchestrators
    }

    /// Events of orchestrator `index` with event time in `[from_ms, to_ms)`.
    pub fn events(&self, index: usize, from_ms: i64, to_ms: i64) -> Vec<TelemetryEvent> {
        let Some(o) = self.orchestrators.get(index) else {
            return Vec::new();
        };
        let seed = self.config.seed;
        let mut out = Vec::new();
        let id = |kind: &str, node: &str, t: i64| -> EventId {
            format!("sim{seed}-{index}-{kind}-{node}-{t}")
                .parse()
                .expect("simulated ids are printable ASCII")
        };
        let ticks = |interval: u32, phase: i64| {
            let interval = i64::from(interval.max(1));
            let first = (from_ms - phase).div_euclid(interval) * interval + phase;
            let first = if first < from_ms { first + interval } else { first };
            (0..).map(move |k| first + k * interval).take_while(move |t| *t < to_ms)
        };
        for node in &o.nodes {
            for t in ticks(self.config.heartbeat_interval_ms, o.phase_ms) {
                if !o.is_down(t) {
                    out.push(TelemetryEvent::heartbeat(
                        id("hb", node, t),
                        t,
                        o.address.clone(),
                        node,
                        o.region,
                        self.config.heartbeat_interval_ms,
                    ));
                }
            }
            for t in ticks(self.config.gpu_interval_ms, o.phase_ms + 250) {
                if o.is_down(t) {
                    continue;
                }
                let h = hash(&[seed, index as u64, t as u64, 7]);
                let gpu_id = format!("GPU-{:08x}-{:04x}", hash(&[seed, index as u64, 8]) as u32, node.len());
                out.push(TelemetryEvent::gpu(
                    id("gpu", node, t),
                    t,
                    o.address.clone(),
                    node,
                    o.region,
                    GpuSample {
                        id: gpu_id,
                        model: "NVIDIA GeForce RTX 4090".into(),
                        // Multiples of 1/64 are exact in f64, so sums do not depend on order.
                        utilization: Some((unit(h) * 64.0).round() / 64.0),
                        memory_used_bytes: Some(8 << 30),
                        memory_total_bytes: Some(24 << 30),
                    },
                ));
            }
        }
        for (p, (prober, prober_region)) in PROBERS.iter().enumerate() {
            for t in ticks(self.config.probe_interval_ms, o.phase_ms + 500 + p as i64 * 100) {
                let latency = if o.is_down(t) {
                    None
                } else {
                    let (u1, u2) = (
                        unit(hash(&[seed, index as u64, t as u64, p as u64, 9])),
                        unit(hash(&[seed, index as u64, t as u64, p as u64, 10])),
                    );
                    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                    let same_continent = o.region.split('-').next() == prober_region.split('-').next();
                    let median = o.latency_median_ms + if same_continent { 0.0 } else { 30.0 };
                    // Quarter-millisecond resolution keeps sums exact in f64,
                    // whatever order they are added in.
                    Some((median * (0.25 * z).exp() * 4.0).round() / 4.0)
                };
                out.push(TelemetryEvent::probe(
                    id("probe", prober, t),
                    t,
                    o.address.clone(),
                    prober,
                    prober_region,
                    latency,
                ));
            }
        }
        out.sort_by_key(|e| e.event_time_ms);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_outages_drop_heartbeats() {
        let sim = Simulation::new(SimulationConfig::default());
        let again = Simulation::new(SimulationConfig::default());
        let minute = 1_767_908_940_000;
        assert_eq!(
            sim.events(7, minute, minute + 60_000),
            again.events(7, minute, minute + 60_000)
        );
        for (i, o) in sim.orchestrators().iter().enumerate() {
            let hb = sim
                .events(i, minute, minute + 60_000)
                .iter()
                .filter(|e| e.kind == naap_events::telemetry::Kind::Heartbeat)
                .count();
            let expected = o.nodes.len() * (12 - o.outage_secs_per_minute as usize / 5);
            assert_eq!(
                hb, expected,
                "orchestrator {i} with {}s outage",
                o.outage_secs_per_minute
            );
        }
    }

    #[test]
    fn split_spans_equal_one_span() {
        let sim = Simulation::new(SimulationConfig::default());
        let t0 = 1_767_908_940_000;
        let whole = sim.events(4, t0, t0 + 30_000);
        let mut parts = sim.events(4, t0, t0 + 12_345);
        parts.extend(sim.events(4, t0 + 12_345, t0 + 30_000));
        assert_eq!(whole, parts);
    }
}
