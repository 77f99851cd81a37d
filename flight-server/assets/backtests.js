// naap dashboard: the backtest page (#/backtests), from /v1/backtests: per
// pipeline and model, the figures of every rule version side by side, then
// each hour's rank correlations as charts drawn by the server.
"use strict";

const BT_METRICS = [
  ["spearman_startup_success", "ρ with next-hour startup success", 3],
  ["spearman_output_viability", "ρ with output viability", 3],
  ["spearman_no_swap", "ρ with no-swap rate", 3],
  ["spearman_e2e_latency", "ρ with E2E latency (sign flipped)", 3],
  ["uplift_success_vs_random", "Startup success: top k − random", 3],
  ["uplift_success_vs_router", "Startup success: top k − router", 3],
  ["uplift_latency_ms_vs_random", "E2E ms saved vs random", 0],
  ["uplift_latency_ms_vs_router", "E2E ms saved vs router", 0],
  ["coverage", "Coverage (sessions scored)", 3],
];
let backtestRun = null;

const versionKey = (f) => f.rule + " v" + f.rule_version + " " + f.rule_digest;
const versionLabel = (f) =>
  f.rule + " v" + f.rule_version + (f.rule_source.startsWith("sql/rules/") ? "" : " (" + f.rule_source.split("/").pop() + ")");
const signed = (v, digits) => (v === null || v === undefined ? dash : (v >= 0 ? "+" : "") + Number(v).toFixed(digits));

function figureTable(versions, figures) {
  const table = document.createElement("table");
  table.className = "plain bt-table";
  const head = document.createElement("tr");
  ["Metric", ...versions.map((v) => v.label)].forEach((t) => { const th = document.createElement("th"); th.textContent = t; head.appendChild(th); });
  table.createTHead().appendChild(head);
  const body = table.createTBody();
  BT_METRICS.forEach(([metric, title, digits]) => {
    const tr = document.createElement("tr");
    tr.appendChild(cell(title));
    versions.forEach((v) => {
      const f = figures.find((g) => g.metric === metric && versionKey(g) === v.key);
      const td = cell(!f || f.value === null ? dash : signed(f.value, digits), "num");
      if (f && f.value !== null) {
        // The interval under the value, never across it.
        const interval = document.createElement("small");
        interval.className = "interval";
        interval.textContent = "[" + signed(f.ci_low, digits) + ", " + signed(f.ci_high, digits) + "] · " + f.hours + " h";
        td.append(document.createElement("br"), interval);
      }
      tr.appendChild(td);
    });
    body.appendChild(tr);
  });
  const scroll = document.createElement("div");
  scroll.className = "scroll";
  scroll.appendChild(table);
  return scroll;
}

async function refreshBacktests() {
  const b = await getJson("/v1/backtests" + (backtestRun ? "?run=" + encodeURIComponent(backtestRun) : ""));
  const picker = document.getElementById("bt-run");
  picker.replaceChildren(...b.runs.map((r) => {
    const o = document.createElement("option");
    o.value = r.run_id;
    o.textContent = hourOf(r.run_at) + " · " + r.rules + " · hours " + hourOf(r.range_start) + " → " + hourOf(r.range_end);
    return o;
  }));
  picker.value = b.run || "";
  picker.onchange = () => { backtestRun = picker.value; refreshBacktests(); };
  const info = document.getElementById("bt-info");
  const out = document.getElementById("bt-groups");
  const run = b.runs.find((r) => r.run_id === b.run);
  if (!run) {
    info.textContent = "No backtest in this lake yet: run `naap backtest --lake <lake> --rule sla=1` (README, “Backtesting a rule”).";
    out.replaceChildren();
    return;
  }
  info.textContent = "Run " + run.run_id + ": scores at each hour from " + hourOf(run.range_start) + " to " + hourOf(run.range_end) +
    ", compared with the outcomes " + run.horizon_hours + " h later; top k = " + run.top_k + ". Intervals: 95 % bootstrap over hours.";
  const groups = new Map();
  b.summary.forEach((f) => {
    const key = f.pipeline + " / " + f.model;
    if (!groups.has(key)) groups.set(key, { figures: [], versions: new Map() });
    const g = groups.get(key);
    g.figures.push(f);
    g.versions.set(versionKey(f), { key: versionKey(f), label: versionLabel(f) });
  });
  const parts = [];
  const charts = [];
  groups.forEach((g, key) => {
    const versions = [...g.versions.values()];
    const section = document.createElement("section");
    section.className = "bt-group";
    const h = document.createElement("h3");
    h.textContent = key;
    const grid = document.createElement("div");
    grid.className = "grid";
    grid.id = "bt-charts-" + parts.length;
    section.append(h, figureTable(versions, g.figures), grid);
    const [pipeline, model] = [g.figures[0].pipeline, g.figures[0].model];
    charts.push([grid.id, { run: run.run_id, pipeline, model }]);
    parts.push(section);
  });
  out.replaceChildren(...parts);
  await Promise.all(charts.map(([id, params]) => drawCharts(id, ["bt-startup", "bt-viability", "bt-latency"], params)));
}
