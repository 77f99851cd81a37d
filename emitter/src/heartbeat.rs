//! Emission loops: the simulator's network and a node's own heartbeat.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use naap_events::telemetry::TelemetryEvent;
use naap_events::{EventId, OrchestratorAddress};
use tracing::{info, warn};

use crate::gpu::GpuSource;
use crate::host::HostSource;
use naap_events::Family;
use naap_events::samples::{
    GpuSampleBuilder, HostSampleBuilder, MetricSampleBuilder, ProbeResultBuilder, SampleOrigin,
};

use crate::probe::Prober;

use crate::byoc_batch::ByocBatch;
use crate::simulate::Simulation;
use crate::sink::{Sink, SinkError, encode_batch, encode_message};

/// Counters of an emitter run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmitStats {
    pub messages: u64,
    pub events: u64,
}

/// The wall clock in UTC milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Emits the simulation's events of `[from_ms, to_ms)` in spans of `span_ms`,
/// one message per orchestrator and span. With `realtime`, each span is sent
/// once the wall clock has passed its end, so event time tracks wall time.
pub async fn run_simulation(
    sim: &Simulation,
    sink: &mut Sink,
    from_ms: i64,
    to_ms: i64,
    span_ms: i64,
    realtime: bool,
    stats: &mut EmitStats,
) -> Result<(), SinkError> {
    let mut t = from_ms;
    let mut last_log = std::time::Instant::now();
    while t < to_ms {
        let end = (t + span_ms).min(to_ms);
        if realtime {
            let wait = end - now_ms();
            if wait > 0 {
                tokio::time::sleep(Duration::from_millis(wait as u64)).await;
            }
        }
        let mut messages = Vec::with_capacity(sim.orchestrators().len());
        for (i, o) in sim.orchestrators().iter().enumerate() {
            let events = sim.events(i, t, end);
            if events.is_empty() {
                continue;
            }
            stats.events += events.len() as u64;
            messages.push(encode_message(o.address.as_str(), &events)?);
        }
        stats.messages += messages.len() as u64;
        sink.send(&messages).await?;
        if last_log.elapsed() >= Duration::from_secs(5) {
            info!(messages = stats.messages, events = stats.events, "emitted");
            last_log = std::time::Instant::now();
        }
        t = end;
    }
    sink.flush()
}

/// What a node reads besides its heartbeat.
pub struct Collectors {
    /// NVML (or fake) GPUs; `None` when switched off or unavailable.
    pub gpus: Option<Box<dyn GpuSource>>,
    /// CPU, memory, load, network; `None` when switched off.
    pub host: Option<Box<dyn HostSource>>,
    /// Active probes; `None` when none are configured.
    pub probes: Option<Probes>,
    /// The go-livepeer `/metrics` scrape; `None` when not configured.
    pub scrape: Option<Scrape>,
    /// Events posted to the BYOC endpoint; `None` when it is off.
    pub byoc: Option<crate::byoc::Inbox>,
}

/// Runs `what` at most every `every`.
#[derive(Debug)]
pub struct Every {
    pub every: Duration,
    last: Option<std::time::Instant>,
}

impl Every {
    pub fn new(every: Duration) -> Self {
        Self { every, last: None }
    }

    fn due(&mut self) -> bool {
        let due = self.last.is_none_or(|l| l.elapsed() >= self.every);
        if due {
            self.last = Some(std::time::Instant::now());
        }
        due
    }
}

/// Probe targets (`tcp://`, `http://`, `https://`) and an optional download.
#[derive(Debug)]
pub struct Probes {
    pub prober: Prober,
    pub targets: Vec<String>,
    pub bandwidth_url: Option<String>,
    pub schedule: Every,
}

/// A Prometheus page to read capacity (and allow-listed series) from.
#[derive(Debug)]
pub struct Scrape {
    pub prober: Prober,
    pub url: String,
    pub allow: Vec<String>,
    pub schedule: Every,
}

impl std::fmt::Debug for Collectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collectors")
            .field("gpus", &self.gpus.is_some())
            .field("host", &self.host.is_some())
            .field("probes", &self.probes)
            .field("scrape", &self.scrape)
            .field("byoc", &self.byoc.is_some())
            .finish()
    }
}

/// This node's identity, stamped on every event it emits.
#[derive(Debug, Clone)]
pub struct Node {
    pub orchestrator: OrchestratorAddress,
    pub node_id: String,
    /// A coarse region code, never coordinates.
    pub region: String,
}

/// Sends this node's heartbeat every `interval` until `until` (wall clock
/// ms), with per GPU a `node_telemetry` gpu row (for the minute aggregates)
/// and a `gpu_sample` row with every NVML field, a `host_sample` row, probe
/// and scrape results when due, and in between the BYOC events posted to the
/// node's endpoint, batched by time and size.
pub async fn run_heartbeat(
    sink: &mut Sink,
    node: &Node,
    interval: Duration,
    until_ms: Option<i64>,
    mut collectors: Collectors,
    stats: &mut EmitStats,
) -> Result<(), SinkError> {
    let mut ticker = tokio::time::interval(interval);
    let started_ms = now_ms();
    let mut byoc = collectors.byoc.take().map(ByocBatch::new);
    loop {
        let flush_at = byoc.as_ref().and_then(|b| b.flush_at);
        tokio::select! {
            _ = ticker.tick() => {
                if until_ms.is_some_and(|u| now_ms() >= u) {
                    if let Some(b) = byoc.as_mut() {
                        b.flush(sink, node, stats).await;
                    }
                    return sink.flush();
                }
                beat(sink, node, (interval, started_ms), &mut collectors, stats).await?;
            }
            Some(sub) = recv(&mut byoc) => {
                let b = byoc.as_mut().expect("recv only yields with an inbox");
                if b.add(sub) {
                    b.flush(sink, node, stats).await;
                }
            }
            _ = sleep_until(flush_at), if flush_at.is_some() => {
                if let Some(b) = byoc.as_mut() {
                    b.flush(sink, node, stats).await;
                }
            }
        }
    }
}

async fn recv(byoc: &mut Option<ByocBatch>) -> Option<crate::byoc::Submission> {
    match byoc {
        Some(b) => b.inbox.rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

const MINUTE_MS: i64 = 60_000;

/// The interval a heartbeat sent at `t_ms` declares. The rules promise a
/// node's minute 60 000 / interval heartbeats; in the minute the agent
/// started in it can send only those left from its start to the minute's
/// end, so there it declares the interval that promises just those (never
/// shorter than `interval`). A node that starts mid-minute is judged on the
/// time it ran, not scored down for the seconds before it started.
pub fn declared_interval_ms(started_ms: i64, t_ms: i64, interval: Duration) -> u32 {
    let interval_ms = u32::try_from(interval.as_millis()).unwrap_or(u32::MAX).max(1);
    let first_minute_end = (started_ms.div_euclid(MINUTE_MS) + 1) * MINUTE_MS;
    if t_ms >= first_minute_end || t_ms < started_ms {
        return interval_ms;
    }
    // Ticks at the start and every interval after it, before the minute ends.
    let left = u64::try_from(first_minute_end - started_ms).unwrap_or(1);
    let beats = left.div_ceil(u64::from(interval_ms)).max(1);
    let promising = u32::try_from(60_000 / beats).unwrap_or(interval_ms);
    promising.max(interval_ms)
}

/// One heartbeat round: the heartbeat, GPU and host samples, and probes and
/// scrapes when due.
async fn beat(
    sink: &mut Sink,
    node: &Node,
    (interval, started_ms): (Duration, i64),
    collectors: &mut Collectors,
    stats: &mut EmitStats,
) -> Result<(), SinkError> {
    let Node {
        orchestrator,
        node_id,
        region,
    } = node;
    let (node_id, region) = (node_id.as_str(), region.as_str());
    let t = now_ms();
    let interval_ms = declared_interval_ms(started_ms, t, interval);
    let id: EventId = format!("hb-{orchestrator}-{node_id}-{t}")
        .parse()
        .unwrap_or_else(|_| format!("hb-{t}").parse().expect("digits form an event id"));
    let mut event = TelemetryEvent::heartbeat(id, t, orchestrator.clone(), node_id, region, interval_ms);
    let readings = match collectors.gpus.as_mut().map(|g| g.read()) {
        Some(Ok(r)) => r,
        Some(Err(e)) => {
            warn!(error = %e, "GPU read failed; this heartbeat reports no GPU");
            Vec::new()
        }
        None => Vec::new(),
    };
    event.gpu_available = Some(!readings.is_empty());
    let mut scraped = None;
    if let Some(scrape) = collectors.scrape.as_mut()
        && scrape.schedule.due()
    {
        match scrape.prober.fetch_text(&scrape.url).await {
            Ok(text) => {
                let s = crate::probe::parse_metrics(&text, &scrape.allow);
                event.sessions_in_use = s.sessions_in_use;
                event.sessions_max = s.sessions_max;
                scraped = Some(s);
            }
            Err(e) => warn!(error = %e, "metrics scrape failed; this heartbeat has no capacity"),
        }
    }
    let mut probed = Vec::new();
    if let Some(p) = collectors.probes.as_mut()
        && p.schedule.due()
    {
        probed = futures::future::join_all(p.targets.iter().map(|t| p.prober.probe(t))).await;
        if let Some(url) = &p.bandwidth_url {
            probed.push(p.prober.bandwidth(url).await);
        }
    }
    let mut events = vec![event];
    for r in &readings {
        let id: EventId = format!("gpu-{}-{t}", r.uuid)
            .parse()
            .unwrap_or_else(|_| format!("gpu-{t}").parse().expect("digits form an event id"));
        events.push(TelemetryEvent::gpu(
            id,
            t,
            orchestrator.clone(),
            node_id,
            region,
            r.sample(),
        ));
    }
    let mut messages = vec![encode_message(orchestrator.as_str(), &events)?];
    stats.events += events.len() as u64;
    let origin = |kind: &str, tag: &str| SampleOrigin {
        event_id: format!("{kind}-{orchestrator}-{node_id}-{tag}-{t}")
            .parse()
            .unwrap_or_else(|_| format!("{kind}-{t}").parse().expect("digits form an event id")),
        event_time_ms: t,
        orchestrator: orchestrator.clone(),
        node_id: node_id.to_owned(),
        region: region.to_owned(),
    };
    if !readings.is_empty() {
        let mut b = GpuSampleBuilder::default();
        for r in &readings {
            b.push(&origin("gs", &r.uuid), &r.fields());
        }
        messages.push(encode_batch(
            orchestrator.as_str(),
            Family::GpuSampleV1,
            &b.finish(),
            t,
        )?);
        stats.events += readings.len() as u64;
    }
    if let Some(host) = collectors.host.as_mut() {
        let mut b = HostSampleBuilder::default();
        b.push(&origin("host", "h"), &host.read());
        messages.push(encode_batch(
            orchestrator.as_str(),
            Family::HostSampleV1,
            &b.finish(),
            t,
        )?);
        stats.events += 1;
    }
    if !probed.is_empty() {
        let mut b = ProbeResultBuilder::default();
        for (i, p) in probed.iter().enumerate() {
            b.push(&origin("probe", &i.to_string()), p);
        }
        messages.push(encode_batch(
            orchestrator.as_str(),
            Family::ProbeResultV1,
            &b.finish(),
            t,
        )?);
        stats.events += probed.len() as u64;
    }
    if let Some(s) = scraped.filter(|s| !s.forwarded.is_empty()) {
        let mut b = MetricSampleBuilder::default();
        for (i, (metric, labels, value)) in s.forwarded.iter().enumerate() {
            b.push(&origin("metric", &i.to_string()), metric, labels, *value);
        }
        messages.push(encode_batch(
            orchestrator.as_str(),
            Family::MetricSampleV1,
            &b.finish(),
            t,
        )?);
        stats.events += s.forwarded.len() as u64;
    }
    stats.messages += messages.len() as u64;
    sink.send(&messages).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules' promise for a minute: 60 000 / the declared interval,
    /// in whole heartbeats (`sql/rules/uptime`).
    fn promised(declared: u32) -> u64 {
        60_000 / u64::from(declared)
    }

    #[test]
    fn the_first_minute_promises_only_the_beats_left_in_it() {
        let minute = 1_776_254_400_000_i64;
        for interval_ms in [1_000_u64, 5_000, 7_000, 10_000, 15_000, 30_000, 60_000] {
            let interval = Duration::from_millis(interval_ms);
            for offset in (0..60_000).step_by(250) {
                let start = minute + offset;
                let ticks: Vec<i64> = (0..)
                    .map(|k| start + k * interval_ms as i64)
                    .take_while(|t| *t < minute + 60_000)
                    .collect();
                for &t in &ticks {
                    let declared = declared_interval_ms(start, t, interval);
                    assert!(u64::from(declared) >= interval_ms);
                    // What it can send, never more than a whole minute's promise.
                    assert_eq!(
                        promised(declared),
                        (ticks.len() as u64).min(60_000 / interval_ms),
                        "interval {interval_ms} ms, start +{offset} ms"
                    );
                }
                // From the next minute on, the configured interval.
                let later = minute + 60_000 + 1;
                assert_eq!(u64::from(declared_interval_ms(start, later, interval)), interval_ms);
            }
        }
    }

    #[test]
    fn a_start_on_the_minute_promises_a_whole_minute() {
        let start = 1_776_254_400_000_i64;
        assert_eq!(declared_interval_ms(start, start, Duration::from_secs(5)), 5_000);
        // Longer than a minute: never shorter than configured.
        assert_eq!(
            declared_interval_ms(start + 1, start + 1, Duration::from_secs(90)),
            90_000
        );
        // A clock stepped back before the start keeps the configured interval.
        assert_eq!(declared_interval_ms(start, start - 10, Duration::from_secs(5)), 5_000);
    }
}
