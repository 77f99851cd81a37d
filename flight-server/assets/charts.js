// naap dashboard: charts. The server draws each one as SVG with a charting
// library (/v1/charts/{name}: axes with units and UTC dates, a line per
// series, a legend); the page places it inline, at the width it has, so it
// stays sharp on a phone and its labels are text.
"use strict";

const CHART_WIDTHS = [280, 1600];
const RANGES = ["24h", "7d", "30d"];

// The range the reader chose (`?range=7d`, kept in the address).
function chosenRange() {
  const range = new URLSearchParams(location.search).get("range");
  return RANGES.includes(range) ? range : "24h";
}

// Replaces one parameter of the page's address, keeping the route.
function setAddressParam(key, value) {
  const params = new URLSearchParams(location.search);
  params.set(key, value);
  history.replaceState(null, "", "?" + params + location.hash);
}

function chartWidth(box) {
  const width = Math.round(box.clientWidth || 720);
  return Math.max(CHART_WIDTHS[0], Math.min(CHART_WIDTHS[1], width));
}

// Draws chart `name` into `box` (its previous drawing stays until the new
// one arrives, so a refresh does not flicker).
async function drawChart(box, name, params) {
  const query = new URLSearchParams(params);
  query.set("width", chartWidth(box));
  const answer = await fetch("/v1/charts/" + name + "?" + query, { cache: "no-store" });
  if (!answer.ok) throw new Error("chart " + name + ": " + answer.status);
  // Parsed as an SVG document, never as HTML: nothing in it runs.
  const doc = new DOMParser().parseFromString(await answer.text(), "image/svg+xml");
  const svg = doc.documentElement;
  if (svg.nodeName !== "svg") throw new Error("chart " + name + ": not an SVG document");
  svg.removeAttribute("width");
  svg.removeAttribute("height");
  svg.setAttribute("role", "img");
  box.replaceChildren(document.importNode(svg, true));
  box.dataset.chart = name;
}

// One box per chart in `names` inside the element `id`, drawn in parallel.
async function drawCharts(id, names, params) {
  const grid = document.getElementById(id);
  const boxes = names.map((name) => {
    let box = grid.querySelector('[data-slot="' + name + '"]');
    if (!box) {
      box = document.createElement("figure");
      box.className = "chart";
      box.dataset.slot = name;
      grid.appendChild(box);
    }
    return box;
  });
  [...grid.children].forEach((child) => { if (!names.includes(child.dataset.slot)) child.remove(); });
  await Promise.all(names.map((name, i) => drawChart(boxes[i], name, params)));
}
