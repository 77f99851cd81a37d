// naap dashboard: tables. Missing figures show as "–" and sort last,
// whatever the direction; a click on a column head sorts by it.
"use strict";

const dash = "–";
const fmt = (v, digits = 1) => (v === null || v === undefined ? dash : Number(v).toFixed(digits));
const pct = (v) => (v === null || v === undefined ? dash : (100 * v).toFixed(1) + " %");
const score100 = (v) => (v === null || v === undefined ? dash : (100 * v).toFixed(1));
const hourOf = (t) => (t ? String(t).replace("T", " ").slice(0, 16) + " UTC" : dash);

// A leaderboard's cohort as people read it: "live-video-to-video · sdxl".
const cohortLabel = (cohort) =>
  ["family", "pipeline", "model"].map((k) => cohort[k]).filter((v) => v).join(" · ");

async function getJson(url) {
  const answer = await fetch(url, { cache: "no-store" });
  if (!answer.ok) throw new Error(url + ": " + answer.status);
  return answer.json();
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function orchestratorLink(address) {
  const link = document.createElement("a");
  link.href = "#/o/" + address;
  link.textContent = address;
  return link;
}

function compareCells(a, b, asc) {
  const na = a === null || a === undefined, nb = b === null || b === undefined;
  if (na || nb) return na - nb;
  const c = typeof a === "number" ? a - b : String(a).localeCompare(String(b));
  return asc ? c : -c;
}

// A table of `rows` with `columns` ([key, label, format, numeric]); the
// `orchestrator` column links to its page. `sortKey` sorts first (descending).
function dataTable(id, columns, rows, sortKey) {
  const table = document.createElement("table");
  table.className = "board";
  if (id) table.id = id;
  const state = { key: sortKey, asc: false };
  const head = document.createElement("tr");
  columns.forEach(([key, label, , numeric]) => {
    const th = document.createElement("th");
    th.textContent = label;
    th.dataset.key = key;
    if (numeric) th.className = "num";
    th.addEventListener("click", () => {
      state.asc = state.key === key ? !state.asc : false;
      state.key = key;
      fill();
    });
    head.appendChild(th);
  });
  table.createTHead().appendChild(head);
  const body = table.createTBody();
  function fill() {
    const sorted = rows.slice().sort((a, b) => compareCells(a[state.key], b[state.key], state.asc));
    body.replaceChildren(...sorted.map((r) => {
      const tr = document.createElement("tr");
      if (r.orchestrator) tr.dataset.orchestrator = r.orchestrator;
      columns.forEach(([key, , format, numeric]) => {
        if (key === "orchestrator") {
          const td = cell("");
          td.appendChild(orchestratorLink(r.orchestrator));
          tr.appendChild(td);
        } else {
          tr.appendChild(cell(format ? format(r[key], r) : (r[key] ?? dash), numeric ? "num" : ""));
        }
      });
      return tr;
    }));
    head.querySelectorAll("th").forEach((th) => {
      th.classList.toggle("sorted", th.dataset.key === state.key);
      th.classList.toggle("asc", th.dataset.key === state.key && state.asc);
    });
  }
  if (!rows.length) {
    const td = cell("no rows");
    td.colSpan = columns.length;
    const tr = document.createElement("tr");
    tr.appendChild(td);
    body.appendChild(tr);
  } else {
    fill();
  }
  const scroll = document.createElement("div");
  scroll.className = "scroll";
  scroll.appendChild(table);
  return scroll;
}

// Rows of a plain table given by id, or one row saying there are none.
function fillTable(id, items, columns, none) {
  const body = document.querySelector("#" + id + " tbody");
  if (!items.length) {
    const td = cell(none || "no rows");
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

// A plain table given by id from rows of objects: their keys are the heads.
function objectTable(id, rows, none) {
  const table = document.getElementById(id);
  const keys = rows.length ? Object.keys(rows[0]) : [none || "no rows"];
  const head = document.createElement("tr");
  keys.forEach((k) => { const th = document.createElement("th"); th.textContent = k.replaceAll("_", " "); head.appendChild(th); });
  table.tHead.replaceChildren(head);
  table.tBodies[0].replaceChildren(...rows.map((g) => {
    const tr = document.createElement("tr");
    keys.forEach((k) => tr.appendChild(cell(g[k] === null || g[k] === undefined ? dash : String(g[k]))));
    return tr;
  }));
}
