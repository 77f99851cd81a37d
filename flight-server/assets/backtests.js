// naap dashboard: the backtest page (#/backtests), drawn from /v1/backtests.
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
const BT_COLORS = ["#0a7d55", "#c2410c", "#1d4ed8", "#7c3aed", "#be185d", "#4d7c0f"];
let backtestRun = null;

const svgNs = "http://www.w3.org/2000/svg";
function svgEl(tag, attrs, text) {
  const e = document.createElementNS(svgNs, tag);
  Object.entries(attrs).forEach(([k, v]) => e.setAttribute(k, v));
  if (text !== undefined) e.textContent = text;
  return e;
}

const versionKey = (f) => f.rule + " v" + f.rule_version + " " + f.rule_digest;
const versionLabel = (f) =>
  f.rule + " v" + f.rule_version + (f.rule_source.startsWith("sql/rules/") ? "" : " (" + f.rule_source.split("/").pop() + ")");
const signed = (v, digits) => (v === null || v === undefined ? dash : (v >= 0 ? "+" : "") + Number(v).toFixed(digits));

function chartBox(title, svg, legend) {
  const box = document.createElement("div");
  box.className = "chart";
  const h = document.createElement("h4");
  h.textContent = title;
  box.append(h, svg);
  if (legend) box.appendChild(legend);
  return box;
}

function legendOf(versions) {
  const p = document.createElement("p");
  p.className = "legend";
  versions.forEach((v, i) => {
    const s = document.createElement("span");
    s.style.color = BT_COLORS[i % BT_COLORS.length];
    s.textContent = "■ " + v.label + "  ";
    p.appendChild(s);
  });
  return p;
}

// One line per version: the metric at each scored hour, on [-1, 1].
function correlationChart(title, versions, points) {
  const svg = svgEl("svg", { viewBox: "0 0 1200 200", preserveAspectRatio: "none", class: "bt-lines" });
  const hours = [...new Set(points.map((p) => p.window_start))].sort();
  const x = (h) => 50 + (hours.length > 1 ? (1140 * hours.indexOf(h)) / (hours.length - 1) : 570);
  const y = (v) => 100 - 90 * v;
  svg.appendChild(svgEl("line", { x1: 50, x2: 1190, y1: y(0), y2: y(0), stroke: "#dde2ea" }));
  [[1, "+1"], [0, "0"], [-1, "−1"]].forEach(([v, t]) => svg.appendChild(svgEl("text", { x: 4, y: y(v) + 4, "font-size": 11, fill: "#5b6475" }, t)));
  versions.forEach((v, i) => {
    const mine = points.filter((p) => versionKey(p) === v.key);
    if (!mine.length) return;
    const color = BT_COLORS[i % BT_COLORS.length];
    svg.appendChild(svgEl("polyline", { fill: "none", stroke: color, "stroke-width": 2,
      points: mine.map((p) => x(p.window_start) + "," + y(p.value)).join(" ") }));
    mine.forEach((p) => {
      const dot = svgEl("circle", { cx: x(p.window_start), cy: y(p.value), r: 2.5, fill: color });
      dot.appendChild(svgEl("title", {}, v.label + " " + p.window_start + ": ρ " + signed(p.value, 2) + " (" + p.pairs + " orchestrators)"));
      svg.appendChild(dot);
    });
  });
  return chartBox(title, svg, legendOf(versions));
}

// One bar per version with its interval; zero in the middle.
function upliftChart(title, versions, figures, digits) {
  const svg = svgEl("svg", { viewBox: "0 0 1200 " + (30 + 34 * versions.length), preserveAspectRatio: "none", class: "bt-bars" });
  const shown = versions.map((v) => figures.find((f) => versionKey(f) === v.key));
  const reach = Math.max(...shown.flatMap((f) => (f ? [f.value, f.ci_low, f.ci_high] : [])).map((v) => Math.abs(v || 0)), 1e-9);
  const x = (v) => 700 + (480 * v) / reach;
  svg.appendChild(svgEl("line", { x1: x(0), x2: x(0), y1: 0, y2: 30 + 34 * versions.length, stroke: "#5b6475" }));
  shown.forEach((f, i) => {
    const top = 10 + 34 * i;
    svg.appendChild(svgEl("text", { x: 4, y: top + 17, "font-size": 13 }, versions[i].label));
    if (!f || f.value === null) {
      svg.appendChild(svgEl("text", { x: x(0) + 6, y: top + 17, "font-size": 12, fill: "#5b6475" }, "no data"));
      return;
    }
    const color = BT_COLORS[i % BT_COLORS.length];
    const bar = svgEl("rect", { x: Math.min(x(0), x(f.value)), y: top + 4, width: Math.max(Math.abs(x(f.value) - x(0)), 1), height: 18, fill: color, "class": "bt-bar" });
    bar.appendChild(svgEl("title", {}, signed(f.value, digits) + " [" + signed(f.ci_low, digits) + ", " + signed(f.ci_high, digits) + "]"));
    svg.appendChild(bar);
    svg.appendChild(svgEl("line", { x1: x(f.ci_low), x2: x(f.ci_high), y1: top + 13, y2: top + 13, stroke: "#1d2330", "stroke-width": 2 }));
    svg.appendChild(svgEl("text", { x: 1190, y: top + 17, "font-size": 12, "text-anchor": "end" },
      signed(f.value, digits) + " [" + signed(f.ci_low, digits) + ", " + signed(f.ci_high, digits) + "]"));
  });
  return chartBox(title, svg);
}

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
      const text = !f || f.value === null ? dash
        : signed(f.value, digits) + " [" + signed(f.ci_low, digits) + ", " + signed(f.ci_high, digits) + "] · " + f.hours + " h";
      tr.appendChild(cell(text, "num"));
    });
    body.appendChild(tr);
  });
  return table;
}

async function refreshBacktests() {
  const b = await getJson("/v1/backtests" + (backtestRun ? "?run=" + encodeURIComponent(backtestRun) : ""));
  const picker = document.getElementById("bt-run");
  picker.replaceChildren(...b.runs.map((r) => {
    const o = document.createElement("option");
    o.value = r.run_id;
    o.textContent = r.run_at.slice(0, 16) + " · " + r.rules + " · hours " + r.range_start.slice(0, 13) + " → " + r.range_end.slice(0, 13);
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
  info.textContent = "Run " + run.run_id + ": scores at each hour from " + run.range_start + " to " + run.range_end +
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
  groups.forEach((g, key) => {
    const versions = [...g.versions.values()];
    const section = document.createElement("section");
    section.className = "bt-group";
    const h = document.createElement("h3");
    h.textContent = key;
    section.append(h, figureTable(versions, g.figures),
      correlationChart("Rank correlation of the score at each hour with the next hour's " + b.metric.replace("spearman_", "").replace(/_/g, " "),
        versions, b.hourly.filter((p) => p.pipeline + " / " + p.model === key)),
      upliftChart("Uplift per version: next-hour startup success, top k − random", versions,
        g.figures.filter((f) => f.metric === "uplift_success_vs_random"), 3),
      upliftChart("Uplift per version: E2E latency saved vs random (ms)", versions,
        g.figures.filter((f) => f.metric === "uplift_latency_ms_vs_random"), 0));
    parts.push(section);
  });
  out.replaceChildren(...parts);
}
