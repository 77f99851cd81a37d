// naap dashboard: one orchestrator's page (#/o/0x…): its place in the
// leaderboards, the SLA and each component over time (a line per pipeline ·
// model), its GPUs, its nodes' telemetry, what it advertises, its jobs.
"use strict";

const SLA_CHARTS = ["o-sla", "o-reliability", "o-quality", "o-startup", "o-no-swap", "o-viability", "o-latency", "o-ptff", "o-fps", "o-sessions"];
const NODE_CHARTS = ["o-uptime", "o-heartbeats", "o-probe-latency", "o-probes", "o-gpu"];

const gib = (bytes) => (bytes === null || bytes === undefined ? dash : (bytes / 2 ** 30).toFixed(1) + " GiB");
const ordinal = (n) => n + (["th", "st", "nd", "rd"][(n % 100 > 10 && n % 100 < 14) || n % 10 > 3 ? 0 : n % 10]);

// "2nd of 14 in live-video-to-video · sdxl (sla v1, 2026-…)" for each board
// that ranks `address`.
function placesOf(address, boards) {
  const places = [];
  const every = [...boards.sla, ...boards.jobs, ...boards.node_health];
  every.forEach((board) => {
    const scoreKey = board.rule === "sla" ? "sla_score" : board.rule === "jobs" ? "jobs_score" : "score";
    const ranked = board.rows.filter((r) => r[scoreKey] !== null && r[scoreKey] !== undefined);
    const at = ranked.findIndex((r) => r.orchestrator === address);
    if (at < 0) return;
    const cohort = cohortLabel(board.cohort) || "all orchestrators";
    places.push(ordinal(at + 1) + " of " + ranked.length + " in " + cohort + " (" + board.rule + " v" + board.rule_version +
      ", score " + fmt(ranked[at][scoreKey]) + ", " + hourOf(ranked[at].window_start) + ")");
  });
  return places;
}

async function refreshOrchestrator(address, query) {
  const [o, boards, work] = await Promise.all([
    getJson("/v1/orchestrators/" + address + query),
    getJson("/v1/leaderboards" + query),
    getJson("/v1/requests/by-orchestrator"),
  ]);
  document.getElementById("o-title").textContent = o.orchestrator;
  const places = placesOf(o.orchestrator, boards);
  document.getElementById("o-place").textContent =
    places.length ? "Leaderboards: " + places.join("; ") : "In no leaderboard: no scored hour recently.";
  // The range ends with its newest evidence (now, for one still serving;
  // the lake's last hours, for one replayed from the past).
  const asUtc = (t) => new Date(String(t).replace(" ", "T") + (/(Z|[+-]\d\d:?\d\d)$/.test(t) ? "" : "Z"));
  const newest = [...o.sla_hourly.map((r) => r.window_start), ...o.uptime_hourly.map((r) => r.hour)]
    .map(asUtc).filter((d) => !isNaN(d)).sort((a, b) => a - b).pop();
  const params = { orchestrator: o.orchestrator, range: chosenRange() };
  if (newest && newest < Date.now()) params.end = newest.toISOString();
  if (slaVersion !== null) Object.assign(params, { rule: "sla", version: slaVersion });
  // GPUs: as its nodes measure them (NVML), else as it advertises them.
  const gpus = o.gpus.length
    ? o.gpus.map((g) => ({ source: "measured (node agent)", node: g.node_id, gpu: g.hw_model, id: g.hw_id, memory: gib(g.memory_bytes) }))
    : o.advertised.filter((a) => a.gpu_id).map((a) => ({ source: "advertised (network_capabilities)", node: dash, gpu: a.gpu_name, id: a.gpu_id, memory: gib(a.gpu_memory_bytes) }));
  const seen = new Set();
  objectTable("o-gpus", gpus.filter((g) => !seen.has(g.id) && seen.add(g.id)), "no GPU reported or advertised");
  objectTable("o-advertised", o.advertised.map((a) => ({ pipeline: a.pipeline, model: a.model, gpu: a.gpu_name, service: a.orch_uri })),
    "nothing advertised");
  objectTable("o-jobs", o.jobs.map((j) => ({
    completed: j.completed_at ? j.completed_at.replace("T", " ").slice(0, 19) + " UTC" : dash, work: j.family, pipeline: j.pipeline, model: j.model || dash,
    success: j.success === null ? dash : j.success ? "yes" : "no", "duration (ms)": j.duration_ms ?? dash, error: j.error || dash,
  })), "no AI batch request or BYOC job");
  const work24 = work.filter((w) => String(w.orchestrator).toLowerCase() === o.orchestrator);
  objectTable("o-work", work24.map((w) => ({
    work: w.family, jobs: w.total_jobs, success: pct(w.success_rate),
    "duration p50 (ms)": fmt(w.p50_duration_ms, 0), "TTFT p50 (ms)": fmt(w.p50_ttft_ms, 0),
  })), "no AI batch or BYOC work in the last 24 hours");
  document.getElementById("o-regions").textContent =
    o.regions.length ? "Regions its nodes declared: " + o.regions.map((r) => r.region + " (" + r.nodes + " nodes)").join(", ") : "No node agent reports for it.";
  await Promise.all([drawCharts("o-sla-charts", SLA_CHARTS, params), drawCharts("o-node-charts", NODE_CHARTS, params)]);
}
