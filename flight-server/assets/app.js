// naap dashboard: plain JavaScript, no external assets, refreshed in place.
"use strict";

const REFRESH_MS = 10000;
let rows = [];
let sortKey = "score";
let sortAsc = false;
// The SLA version the reader chose (the page's `?sla=N`, kept in the
// address so a view can be shared); null: the one the server serves.
let slaVersion = new URLSearchParams(location.search).get("sla");

const dash = "–";
const fmt = (v, digits = 1) => (v === null || v === undefined ? dash : Number(v).toFixed(digits));
const pct = (v) => (v === null || v === undefined ? dash : (100 * v).toFixed(1) + " %");

async function getJson(url) {
  const answer = await fetch(url, { cache: "no-store" });
  if (!answer.ok) throw new Error(url + ": " + answer.status);
  return answer.json();
}

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
    history.replaceState(null, "", "?sla=" + slaVersion + location.hash);
    refresh();
  });
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function renderTable() {
  const sorted = rows.slice().sort((a, b) => {
    const va = a[sortKey], vb = b[sortKey];
    const na = va === null || va === undefined, nb = vb === null || vb === undefined;
    if (na || nb) return na - nb; // missing values last, whatever the direction
    const c = typeof va === "number" ? va - vb : String(va).localeCompare(String(vb));
    return sortAsc ? c : -c;
  });
  const body = document.querySelector("#orchestrators tbody");
  body.replaceChildren(...sorted.map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.orchestrator = r.orchestrator;
    const name = document.createElement("td");
    const link = document.createElement("a");
    link.href = "#/o/" + r.orchestrator;
    link.textContent = r.orchestrator;
    name.appendChild(link);
    tr.append(
      name,
      cell(fmt(r.score), "num score"),
      cell(r.rule ? r.rule + " v" + r.rule_version : dash),
      cell(pct(r.uptime_ratio), "num"),
      cell(fmt(r.latency_p95_ms), "num"),
      cell(fmt(r.avg_output_fps), "num"),
      cell(r.gpu_model || dash),
      cell(r.regions && r.regions.length ? r.regions.join(", ") : dash),
    );
    return tr;
  }));
  document.querySelectorAll("#orchestrators th").forEach((th) => {
    th.classList.toggle("sorted", th.dataset.key === sortKey);
    th.classList.toggle("asc", th.dataset.key === sortKey && sortAsc);
  });
}

async function refreshOverview() {
  const [overview, list] = await Promise.all([getJson("/v1/overview" + versionQuery()), getJson("/v1/orchestrators" + versionQuery())]);
  document.getElementById("ov-orchestrators").textContent = overview.orchestrators;
  document.getElementById("ov-sessions").textContent = overview.sessions === null ? dash : overview.sessions;
  document.getElementById("ov-success").textContent = pct(overview.startup_success_rate);
  document.getElementById("ov-median").textContent = fmt(overview.median_score);
  rows = list.orchestrators;
  renderTable();
}

// Rows of a plain table, or one row saying there are none.
function fillTable(id, items, columns) {
  const body = document.querySelector("#" + id + " tbody");
  if (!items.length) {
    const td = cell("no requests in the last 24 hours");
    td.colSpan = columns.length;
    const tr = document.createElement("tr");
    tr.appendChild(td);
    body.replaceChildren(tr);
    return;
  }
  body.replaceChildren(...items.map((item) => {
    const tr = document.createElement("tr");
    columns.forEach(([value, cls]) => tr.appendChild(cell(value(item), cls)));
    return tr;
  }));
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
  fillTable("rq-models", models, [
    [(m) => m.model],
    [(m) => m.total_requests, "num"],
    [(m) => pct(m.success_rate), "num"],
    [(m) => fmt(m.p50_ttft_ms, 0), "num"],
    [(m) => fmt(m.p95_ttft_ms, 0), "num"],
    [(m) => fmt(m.p50_tokens_per_sec), "num"],
    [(m) => fmt(m.avg_tokens_per_sec), "num"],
  ]);
  fillTable("rq-orchestrators", work, [
    [(w) => w.orchestrator],
    [(w) => w.family],
    [(w) => w.total_jobs, "num"],
    [(w) => pct(w.success_rate), "num"],
    [(w) => fmt(w.p50_duration_ms, 0), "num"],
    [(w) => fmt(w.p95_duration_ms, 0), "num"],
    [(w) => fmt(w.p50_ttft_ms, 0), "num"],
    [(w) => fmt(w.p50_tokens_per_sec), "num"],
  ]);
}

function lineChart(title, points, yMax) {
  const box = document.createElement("div");
  box.className = "chart";
  const h = document.createElement("h4");
  h.textContent = title;
  box.appendChild(h);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 1200 160");
  svg.setAttribute("preserveAspectRatio", "none");
  if (points.length) {
    const max = yMax || Math.max(...points.map((p) => p.y), 1);
    const step = points.length > 1 ? 1140 / (points.length - 1) : 0;
    const xy = points.map((p, i) => [50 + i * step, 150 - (140 * p.y) / max]);
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", "0");
    label.setAttribute("y", "14");
    label.setAttribute("font-size", "11");
    label.setAttribute("fill", "#5b6475");
    label.textContent = fmt(max, 0);
    svg.appendChild(label);
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", "#0a7d55");
    line.setAttribute("stroke-width", "2");
    line.setAttribute("points", xy.map((p) => p.join(",")).join(" "));
    svg.appendChild(line);
    xy.forEach(([x, y], i) => {
      const dot = document.createElementNS(ns, "circle");
      dot.setAttribute("cx", x);
      dot.setAttribute("cy", y);
      dot.setAttribute("r", "3");
      dot.setAttribute("fill", "#0a7d55");
      const tip = document.createElementNS(ns, "title");
      tip.textContent = points[i].x + ": " + fmt(points[i].y, 2);
      dot.appendChild(tip);
      svg.appendChild(dot);
    });
  } else {
    const text = document.createElementNS(ns, "text");
    text.setAttribute("x", "10");
    text.setAttribute("y", "80");
    text.textContent = "no data";
    svg.appendChild(text);
  }
  box.appendChild(svg);
  return box;
}

async function refreshOrchestrator(address) {
  const o = await getJson("/v1/orchestrators/" + address + versionQuery());
  document.getElementById("o-title").textContent = o.orchestrator;
  const charts = document.getElementById("o-charts");
  charts.replaceChildren(
    lineChart("SLA v" + o.rules.sla + " score per sealed hour", o.sla_hourly.map((r) => ({ x: r.window_start, y: r.sla_score })), 100),
    lineChart("Requested sessions per hour", o.sla_hourly.map((r) => ({ x: r.window_start, y: r.requested_sessions }))),
    lineChart("Uptime score, mean of the hour's minutes", o.uptime_hourly.map((r) => ({ x: r.hour, y: r.mean_minute_score })), 100),
  );
  const gpus = o.gpus.length ? o.gpus : o.advertised;
  const table = document.getElementById("o-gpus");
  const keys = gpus.length ? Object.keys(gpus[0]) : [];
  const head = document.createElement("tr");
  keys.forEach((k) => { const th = document.createElement("th"); th.textContent = k; head.appendChild(th); });
  table.tHead.replaceChildren(head);
  table.tBodies[0].replaceChildren(...gpus.map((g) => {
    const tr = document.createElement("tr");
    keys.forEach((k) => tr.appendChild(cell(g[k] === null ? dash : String(g[k]))));
    return tr;
  }));
  document.getElementById("o-regions").textContent =
    o.regions.length ? o.regions.map((r) => r.region + " (" + r.nodes + " nodes)").join(", ") : dash;
}

async function refresh() {
  const status = document.getElementById("status");
  const route = location.hash.match(/^#\/o\/(0x[0-9a-fA-F]{40})$/);
  const backtests = location.hash === "#/backtests";
  document.getElementById("overview-view").hidden = !!route || backtests;
  document.getElementById("orchestrator-view").hidden = !route;
  document.getElementById("backtests-view").hidden = !backtests;
  try {
    await loadVersions();
    if (route) await refreshOrchestrator(route[1]);
    else if (backtests) await refreshBacktests();
    else await Promise.all([refreshOverview(), refreshRequests()]);
    status.textContent = "updated " + new Date().toISOString().replace("T", " ").slice(0, 19) + " UTC";
  } catch (e) {
    status.textContent = "could not refresh: " + e.message;
  }
}

document.querySelectorAll("#orchestrators th").forEach((th) => th.addEventListener("click", () => {
  if (sortKey === th.dataset.key) sortAsc = !sortAsc;
  else { sortKey = th.dataset.key; sortAsc = false; }
  renderTable();
}));
window.addEventListener("hashchange", refresh);
refresh();
setInterval(refresh, REFRESH_MS);
