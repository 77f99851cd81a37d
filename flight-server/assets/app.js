// naap dashboard: routes, the overview and the leaderboards. Plain
// JavaScript, no external assets; the charts come from the server as SVG.
"use strict";

const REFRESH_MS = 30000;
const NETWORK_CHARTS = ["sessions", "usage", "startup", "orchestrators", "requests", "request-success", "fees", "prices", "gpus"];
// The SLA version the reader chose (the page's `?sla=N`, kept in the
// address so a view can be shared); null: the one the server serves.
let slaVersion = new URLSearchParams(location.search).get("sla");

// The query naming the chosen SLA version, if the reader chose one.
const versionQuery = () => (slaVersion === null ? "" : "?rule=sla&version=" + slaVersion);

// Fills the SLA version picker from /v1/rules (once).
async function loadVersions() {
  const picker = document.getElementById("sla-version");
  if (picker.options.length) return;
  const rules = await getJson("/v1/rules");
  const sla = rules.rules.filter((r) => r.rule === "sla");
  picker.replaceChildren(...sla.map((r) => {
    const option = document.createElement("option");
    option.value = String(r.version);
    option.textContent = "SLA v" + r.version + (r.served ? " (served)" : "");
    option.defaultSelected = slaVersion === null ? r.served : String(r.version) === slaVersion;
    return option;
  }));
  picker.addEventListener("change", () => {
    slaVersion = picker.value;
    setAddressParam("sla", slaVersion);
    refresh();
  });
}

function showRange() {
  const range = chosenRange();
  document.querySelectorAll("#ranges a").forEach((a) => a.classList.toggle("chosen", a.dataset.range === range));
}

async function refreshOverview() {
  const overview = await getJson("/v1/overview" + versionQuery());
  document.getElementById("ov-orchestrators").textContent = overview.orchestrators;
  document.getElementById("ov-sessions").textContent = overview.sessions === null ? dash : overview.sessions;
  document.getElementById("ov-success").textContent = pct(overview.startup_success_rate);
  document.getElementById("ov-median").textContent = fmt(overview.median_score);
  document.getElementById("ov-hours").textContent =
    "Orchestrators: every one with a score of any rule. Sessions, startup success and the median: each orchestrator's newest scored " +
    "SLA v" + (overview.rules.sla ?? "?") + " hour within two hours of the newest sealed hour, " + hourOf(overview.sla_window_start) + ".";
  const range = chosenRange();
  const end = new Date(Math.ceil(Date.now() / 3600000) * 3600000);
  const start = new Date(end.getTime() - { "24h": 24, "7d": 168, "30d": 720 }[range] * 3600000);
  document.getElementById("range-hours").textContent =
    "Sealed hours from " + hourOf(start.toISOString()) + " to " + hourOf(end.toISOString()) + " (" + range + ").";
  await drawCharts("network-charts", NETWORK_CHARTS, { range });
}

async function refreshRequests() {
  const [kpi, models, work] = await Promise.all([
    getJson("/v1/dashboard/kpi"),
    getJson("/v1/requests/ai-batch/llm-summary"),
    getJson("/v1/requests/by-orchestrator"),
  ]);
  const { ai_batch: ai, byoc } = kpi.requests;
  document.getElementById("rq-ai-jobs").textContent = ai.total_jobs;
  document.getElementById("rq-ai-success").textContent = pct(ai.success_rate);
  document.getElementById("rq-byoc-jobs").textContent = byoc.total_jobs;
  document.getElementById("rq-byoc-success").textContent = pct(byoc.success_rate);
  const none = "no requests in the last 24 hours";
  fillTable("rq-models", models, [
    [(m) => m.model],
    [(m) => m.total_requests, "num"],
    [(m) => pct(m.success_rate), "num"],
    [(m) => fmt(m.p50_ttft_ms, 0), "num"],
    [(m) => fmt(m.p95_ttft_ms, 0), "num"],
    [(m) => fmt(m.p50_tokens_per_sec), "num"],
    [(m) => fmt(m.avg_tokens_per_sec), "num"],
  ], none);
  fillTable("rq-orchestrators", work, [
    [(w) => w.orchestrator],
    [(w) => w.family],
    [(w) => w.total_jobs, "num"],
    [(w) => pct(w.success_rate), "num"],
    [(w) => fmt(w.p50_duration_ms, 0), "num"],
    [(w) => fmt(w.p95_duration_ms, 0), "num"],
    [(w) => fmt(w.p50_ttft_ms, 0), "num"],
    [(w) => fmt(w.p50_tokens_per_sec), "num"],
  ], none);
}

const regions = (v) => (v && v.length ? v.join(", ") : dash);
const SLA_COLUMNS = [
  ["orchestrator", "Orchestrator"],
  ["sla_score", "SLA", (v) => fmt(v), true],
  ["reliability_score", "Reliability", score100, true],
  ["startup_success_rate", "Startup success", pct, true],
  ["no_swap_rate", "No swap", pct, true],
  ["output_viability_rate", "Output viable", pct, true],
  ["quality_score", "Quality", score100, true],
  ["avg_e2e_latency_ms", "E2E latency (ms)", (v) => fmt(v, 0), true],
  ["avg_output_fps", "Output fps", (v) => fmt(v), true],
  ["requested_sessions", "Sessions", (v) => fmt(v, 0), true],
  ["gpu_model", "GPU"],
  ["regions", "Regions", regions],
  ["price_wei_per_pixel", "Price (wei/px)", (v) => fmt(v, 0), true],
  ["window_start", "Hour", hourOf],
];
const JOBS_COLUMNS = [
  ["orchestrator", "Orchestrator"],
  ["jobs_score", "Jobs score", (v) => fmt(v), true],
  ["success_rate", "Success", pct, true],
  ["selected_jobs", "Jobs tried", (v) => fmt(v, 0), true],
  ["p50_duration_ms", "Duration p50 (ms)", (v) => fmt(v, 0), true],
  ["p50_ttft_ms", "TTFT p50 (ms)", (v) => fmt(v, 0), true],
  ["p50_tokens_per_sec", "Tokens/s p50", (v) => fmt(v), true],
  ["gpu_model", "GPU"],
  ["window_start", "Hour", hourOf],
];
const NODE_COLUMNS = [
  ["orchestrator", "Orchestrator"],
  ["score", "Uptime score", (v) => fmt(v), true],
  ["uptime_ratio", "Heartbeat coverage", pct, true],
  ["latency_p95_ms", "Probe latency p95 (ms)", (v) => fmt(v, 0), true],
  ["gpu_model", "GPU"],
  ["regions", "Regions", regions],
  ["window_start", "Minute", hourOf],
];

// Each board under a heading naming its cohort and rule version.
function renderBoards(id, boards, columns, scoreKey, none) {
  const holder = document.getElementById(id);
  if (!boards.length) {
    const p = document.createElement("p");
    p.className = "note";
    p.textContent = none;
    holder.replaceChildren(p);
    return;
  }
  holder.replaceChildren(...boards.flatMap((board) => {
    const cohort = cohortLabel(board.cohort);
    const h = document.createElement("h4");
    h.textContent = (cohort ? cohort + ": " : "") + board.rule + " v" + board.rule_version + ", " + board.rows.length + " orchestrators";
    const table = dataTable(null, columns, board.rows, scoreKey);
    table.firstChild.dataset.rule = board.rule + " v" + board.rule_version;
    return [h, table];
  }));
}

async function refreshLeaderboards() {
  const boards = await getJson("/v1/leaderboards" + versionQuery());
  renderBoards("lb-sla", boards.sla, SLA_COLUMNS, "sla_score", "No SLA hours scored recently (no go-livepeer gateway sessions in the lake).");
  renderBoards("lb-jobs", boards.jobs, JOBS_COLUMNS, "jobs_score", "No AI batch or BYOC hours scored recently.");
  renderBoards("lb-nodes", boards.node_health, NODE_COLUMNS, "score", "No node telemetry scored (no node agents).");
}

async function refresh() {
  const status = document.getElementById("status");
  const route = location.hash.match(/^#\/o\/(0x[0-9a-fA-F]{40})$/);
  const page = route ? "orchestrator" : location.hash === "#/backtests" ? "backtests" : "overview";
  ["overview", "orchestrator", "backtests"].forEach((p) => {
    document.getElementById(p + "-view").hidden = p !== page;
  });
  // The overview holds the leaderboards; #/leaderboards shows them alone.
  document.getElementById("overview-view").classList.toggle("only-leaderboards", location.hash === "#/leaderboards");
  document.getElementById("ranges").hidden = page === "backtests";
  showRange();
  try {
    await loadVersions();
    if (page === "orchestrator") await refreshOrchestrator(route[1].toLowerCase(), versionQuery());
    else if (page === "backtests") await refreshBacktests();
    else await Promise.all([refreshOverview(), refreshLeaderboards(), refreshRequests()]);
    status.textContent = "updated " + new Date().toISOString().replace("T", " ").slice(0, 19) + " UTC";
    document.body.dataset.ready = page;
  } catch (e) {
    status.textContent = "could not refresh: " + e.message;
  }
}

document.querySelectorAll("#ranges a").forEach((a) => a.addEventListener("click", (event) => {
  event.preventDefault();
  setAddressParam("range", a.dataset.range);
  refresh();
}));
window.addEventListener("hashchange", refresh);
refresh();
setInterval(refresh, REFRESH_MS);
