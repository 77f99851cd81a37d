"""Reading the dashboard as Chromium rendered it: the DOM after its scripts
ran (tables, charts and their SVG text), and the screenshots' pixels."""
import os
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
from PIL import Image

# The first series colours the server's charts use (Okabe-Ito blue, vermilion).
SERIES_COLOURS = [(0, 114, 178), (213, 94, 0)]


def chromium_binary():
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed and CI=true: run through ./test.sh")
        pytest.skip("chromium not installed (./test.sh installs Debian's package)")
    return found


def chromium(binary, profile, url, *extra):
    """Runs headless Chromium once over `url` and returns what it printed.
    A browser that crashes (a non-zero exit with nothing printed; crashpad's
    lines in its stderr) is run once more with a fresh profile: the
    dashboard's own failures show in what the page rendered, never here."""
    for attempt in (1, 2):
        cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile}-{attempt}",
               "--virtual-time-budget=20000", *extra, url]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        if p.returncode == 0:
            return p.stdout
        print(f"chromium exited {p.returncode} (attempt {attempt}) with {len(p.stdout)} bytes out:\n{p.stderr[-3000:]}")
        if p.stdout:
            break
    pytest.fail(f"chromium exited {p.returncode} over {url}: {p.stderr[-3000:]}")


class Page(HTMLParser):
    """The rendered page: elements' text by id, every leaderboard (its rule
    and rows by orchestrator), and every chart (its SVG texts, series
    colours and legend swatches)."""

    def __init__(self, dom):
        super().__init__()
        self.text, self.boards, self.charts, self.tables = {}, [], [], {}
        self._ids, self._board, self._row, self._cell, self._chart, self._table = [], None, None, None, None, None
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self._ids.append((tag, attrs["id"], []))
        if tag == "table":
            self._table = self.tables.setdefault(attrs.get("id") or f"table-{len(self.tables)}", [])
            if "board" in (attrs.get("class") or ""):
                self._board = {"rule": attrs.get("data-rule"), "rows": {}}
                self.boards.append(self._board)
        elif tag == "tr" and self._table is not None:
            self._row = []
            self._table.append(self._row)
            if self._board is not None and "data-orchestrator" in attrs:
                self._board["rows"][attrs["data-orchestrator"]] = self._row
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""
        elif tag == "figure" and "chart" in (attrs.get("class") or ""):
            self._chart = {"slot": attrs.get("data-slot"), "texts": [], "colours": set(), "swatches": 0,
                           "lines": 0, "svg": False}
            self.charts.append(self._chart)
        elif self._chart is not None:
            if tag == "svg":
                self._chart["svg"] = True
            elif tag == "circle" and attrs.get("fill"):
                self._chart["colours"].add(attrs["fill"].lower())
            elif tag == "polyline" and attrs.get("stroke-width") == "3":
                self._chart["swatches"] += 1
            elif tag == "polyline":
                self._chart["lines"] += 1
            elif tag == "text":
                self._chart["texts"].append("")

    def handle_endtag(self, tag):
        if self._ids and self._ids[-1][0] == tag:
            _, id_, parts = self._ids.pop()
            self.text[id_] = "".join(parts).strip()
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr":
            self._row = None
        elif tag == "table":
            self._table, self._board = None, None
        elif tag == "figure":
            self._chart = None

    def handle_data(self, data):
        for _, _, parts in self._ids:
            parts.append(data)
        if self._cell is not None:
            self._cell += data
        if self._chart is not None and self._chart["texts"]:
            self._chart["texts"][-1] += data


def check_charts(page, where, at_least):
    """Every chart has axes with labels (the time axis' dates, the value
    axis' unit) and, with more than one series, a legend entry per series."""
    charts = [c for c in page.charts if c["svg"]]
    assert len(charts) >= at_least, (where, [c["slot"] for c in page.charts])
    drawn = 0
    for c in charts:
        texts = [t.strip() for t in c["texts"] if t.strip()]
        assert "hour (UTC)" in texts, (where, c["slot"], texts)
        assert len(texts) >= 5, (where, c["slot"], texts)  # title, both axis names, tick labels
        if "no data in these hours" in texts:
            continue
        drawn += 1
        assert any(any(m in t for m in ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                                         "Dec")) for t in texts), (where, c["slot"], texts)
        series = len(c["colours"])
        assert series >= 1 and c["swatches"] == series, (where, c["slot"], series, c["swatches"], texts)
    return drawn


def coloured_pixels(png, colour, tolerance=24):
    image = Image.open(png).convert("RGB")
    pixels = image.get_flattened_data() if hasattr(image, "get_flattened_data") else image.getdata()
    return sum(1 for p in pixels if all(abs(a - b) <= tolerance for a, b in zip(p, colour)))


def screenshots(binary, profile, url, artifacts, name, height=2400):
    """The page at 1400 px and 400 px wide; returns both paths."""
    shots = []
    for width in (1400, 400):
        path = artifacts / f"{name}-{width}.png"
        chromium(binary, profile, url, f"--screenshot={path}", f"--window-size={width},{height}")
        with Image.open(path) as image:
            assert image.size[0] == width, (path, image.size)
        shots.append(path)
    return shots
