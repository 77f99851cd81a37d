"""The dashboard as a person meets it: Debian's Chromium, headless, renders
every page, over a lake built from replays and over the demo; the tests
read the rendered DOM (leaderboards, charts, the orchestrator page) and the
screenshots' pixels. Screenshots at 1400 and 400 px are kept as test
artifacts ($NAAP_TEST_ARTIFACTS)."""
import json
import os
import re
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

from conftest import free_port, port_open, run, wait_until
from dashboard_page import (SERIES_COLOURS, Page, check_charts, chromium, chromium_binary, coloured_pixels,
                            screenshots)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "livepeer" / "gateway-events-sample.ndjson"
ONCHAIN = "0xd00354656922168815fcd1e51cbddb9e359e3c7f"


def artifacts_dir(tmp_path):
    artifacts = Path(os.environ.get("NAAP_TEST_ARTIFACTS", tmp_path / "artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    return artifacts


def get(url):
    with urllib.request.urlopen(url, timeout=60) as answer:
        return json.load(answer)


def test_the_dashboard_renders_the_lake(naap_bin, serve_lake, tmp_path):
    browser = chromium_binary()
    artifacts = artifacts_dir(tmp_path)
    lake = tmp_path / "lake"
    messages = tmp_path / "in.naapmsg"
    run([naap_bin, "emit", "--simulate", "4", "--from", "2026-01-08T21:00:00Z", "--span", "3m",
         "--output", str(messages)])
    run([naap_bin, "replay", "--input", str(messages), "--lake", str(lake)])
    run([naap_bin, "replay", "--input", str(SAMPLE), "--format", "livepeer-json", "--lake", str(lake)])
    # Three simulated orchestrators' AI batch, LLM and BYOC work of the last
    # three hours, for the request panels.
    jobs = tmp_path / "jobs.ndjson"
    start = (datetime.now(timezone.utc) - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:00Z")
    run([naap_bin, "emit", "--simulate", "3", "--gateway-jobs", "--from", start, "--span", "3h",
         "--output", str(jobs)])
    run([naap_bin, "replay", "--input", str(jobs), "--format", "livepeer-json", "--lake", str(lake)])
    flight_port, http_port = serve_lake(lake)
    base = f"http://127.0.0.1:{http_port}"
    kpi = get(f"{base}/v1/dashboard/kpi")["requests"]
    assert kpi["ai_batch"]["total_jobs"] > 100 and kpi["byoc"]["total_jobs"] > 50, kpi
    boards = get(f"{base}/v1/leaderboards")
    nodes = {r["orchestrator"]: r for r in boards["node_health"][0]["rows"]}
    assert len(nodes) == 4, boards["node_health"]

    page = Page(chromium(browser, tmp_path / "profile", f"{base}/", "--dump-dom"))
    # No table mixes rules: each leaderboard is one rule's.
    rules = {b["rule"] for b in page.boards}
    assert {"sla v1", "uptime v1"} <= rules, rules
    assert all(b["rule"] for b in page.boards)
    [sla] = [b for b in page.boards if b["rule"] == "sla v1"]
    recorded = sla["rows"][ONCHAIN]
    # SLA v1 of its sealed hour, 85, its GPU from network_capabilities.
    assert recorded[0] == ONCHAIN and recorded[1] == "85.0", recorded
    assert "NVIDIA GeForce RTX 5090" in recorded, recorded
    # The price its tickets carried, beside its score.
    [price] = [r["price_wei_per_pixel"] for b in boards["sla"] for r in b["rows"] if r["orchestrator"] == ONCHAIN]
    assert price and price > 0 and f"{price:.0f}" in recorded, (price, recorded)
    [health] = [b for b in page.boards if b["rule"] == "uptime v1"]
    assert set(health["rows"]) == set(nodes)
    for address, row in nodes.items():
        assert health["rows"][address][1] == f"{row['score']:.1f}", (health["rows"][address], row)
    assert page.text["ov-orchestrators"] == "5", page.text.get("ov-orchestrators")
    assert "SLA v1 hour" in page.text["ov-hours"] and "2026-01-08 21:00 UTC" in page.text["ov-hours"], page.text["ov-hours"]
    # The request panels: the KPIs, the LLM model, every simulated orchestrator.
    assert page.text["rq-ai-jobs"] == str(kpi["ai_batch"]["total_jobs"])
    assert page.text["rq-byoc-jobs"] == str(kpi["byoc"]["total_jobs"])
    assert ["meta-llama/Meta-Llama-3.1-8B-Instruct"] == [r[0] for r in page.tables["rq-models"][1:]], page.tables["rq-models"]
    served = {r[0] for r in page.tables["rq-orchestrators"][1:]}
    assert {f"https://orch-{i}.sim.naap.example:8935" for i in range(3)} <= served, served
    # The network's charts; the simulated requests of the last hours are drawn.
    assert check_charts(page, "overview", 8) >= 2
    [requests] = [c for c in page.charts if c["slot"] == "requests"]
    assert len(requests["colours"]) >= 2, requests  # AI batch, BYOC (and LLM): a line each, a legend

    detail = Page(chromium(browser, tmp_path / "profile", f"{base}/#/o/{ONCHAIN}", "--dump-dom"))
    assert detail.text["o-title"] == ONCHAIN
    # Its SLA hour of January, drawn: the range ends with its newest evidence.
    [sla_chart] = [c for c in detail.charts if c["slot"] == "o-sla"]
    assert "no data in these hours" not in [t.strip() for t in sla_chart["texts"]], sla_chart
    check_charts(detail, "orchestrator", 15)
    assert any("NVIDIA GeForce RTX 5090" in cell for row in detail.tables["o-gpus"] for cell in row), detail.tables
    assert "1st of 1" in detail.text["o-place"], detail.text["o-place"]
    for name, url in [("dashboard", f"{base}/"), ("orchestrator", f"{base}/#/o/{ONCHAIN}")]:
        for shot in screenshots(browser, tmp_path / "profile", url, artifacts, f"lake-{name}"):
            assert coloured_pixels(shot, SERIES_COLOURS[0]) > 50, shot


def test_every_page_of_the_demo(naap_bin, background, tmp_path):
    """`naap demo` as it starts by default (50 orchestrators, two days of
    history): every page renders with charts that have axes and legends,
    leaderboards that each hold one rule, an orchestrator page with its
    GPUs, SLA components and node telemetry, and SLA scores spread wide."""
    browser = chromium_binary()
    artifacts = artifacts_dir(tmp_path)
    flight_port, http_port, byoc_port = free_port(), free_port(), free_port()
    demo = background(
        [naap_bin, "demo", "--duration", "600s", "--lake", str(tmp_path / "naap-data"),
         "--flight-addr", f"127.0.0.1:{flight_port}", "--http-addr", f"127.0.0.1:{http_port}",
         "--byoc-addr", f"127.0.0.1:{byoc_port}", "--backfill", "5m"],
        "demo",
    )
    base = f"http://127.0.0.1:{http_port}"
    wait_until(lambda: port_open(http_port), 60, "the demo's HTTP server")
    # The history is replayed and backtested before the live network starts.
    wait_until(lambda: "backtested sla v1" in demo.output(), 400, "the demo's history: " + demo.output()[-2000:])
    out = demo.output()
    assert "backtest warning" not in out, out  # two days of history: the benchmark has rows

    boards = get(f"{base}/v1/leaderboards")
    scores = {}
    for board in boards["sla"]:
        for r in board["rows"]:
            scores.setdefault(r["orchestrator"], r["sla_score"])
    assert len(scores) >= 40, len(scores)
    assert max(scores.values()) - min(scores.values()) > 20, sorted(scores.values())
    best = max(scores, key=scores.get)
    wait_until(lambda: get(f"{base}/v1/orchestrators/{best}")["uptime_hourly"], 120, "node telemetry of " + best)

    profile = tmp_path / "profile"
    overview = Page(chromium(browser, profile, f"{base}/?range=7d#/", "--dump-dom"))
    assert int(overview.text["ov-orchestrators"]) >= 40, overview.text["ov-orchestrators"]
    assert check_charts(overview, "overview 7d", 8) >= 6
    sla_boards = [b for b in overview.boards if b["rule"] == "sla v1"]
    assert len(sla_boards) >= 2 and all(len(b["rows"]) >= 5 for b in sla_boards), [len(b["rows"]) for b in sla_boards]
    assert {b["rule"] for b in overview.boards} <= {"sla v1", "jobs v1", "uptime v1"}, {b["rule"] for b in overview.boards}
    shown = {o: float(row[1]) for b in sla_boards for o, row in b["rows"].items()}
    assert len(shown) >= 40 and max(shown.values()) - min(shown.values()) > 20
    # Several series share a chart: one line and one legend entry each.
    [sessions] = [c for c in overview.charts if c["slot"] == "sessions"]
    assert len(sessions["colours"]) >= 2 and sessions["swatches"] == len(sessions["colours"]), sessions

    detail = Page(chromium(browser, profile, f"{base}/#/o/{best}", "--dump-dom"))
    assert detail.text["o-title"] == best
    drawn = check_charts(detail, "orchestrator", 15)
    slots = {c["slot"]: c for c in detail.charts}
    for name in ("o-sla", "o-reliability", "o-startup", "o-viability", "o-latency", "o-fps", "o-uptime"):
        assert "no data in these hours" not in [t.strip() for t in slots[name]["texts"]], (name, slots[name]["texts"])
    assert drawn >= 8
    gpus = detail.tables["o-gpus"]
    assert len(gpus) >= 2 and any("RTX" in cell or "NVIDIA" in cell for row in gpus[1:] for cell in row), gpus
    assert any(cell.endswith(" GiB") for row in gpus[1:] for cell in row), gpus  # with its memory
    # Its recent jobs, newest first (the simulated network's BYOC and AI batch work).
    jobs = detail.tables["o-jobs"]
    assert len(jobs) >= 2 and jobs[0][:2] == ["completed", "work"], jobs[:3]
    assert {row[1] for row in jobs[1:]} <= {"ai-batch", "byoc"}, jobs[:3]
    completed = [row[0] for row in jobs[1:]]
    assert completed == sorted(completed, reverse=True), completed
    assert re.search(r"1st of \d+ in live-video-to-video", detail.text["o-place"]), detail.text["o-place"]

    backtests = Page(chromium(browser, profile, f"{base}/#/backtests", "--dump-dom"))
    check_charts(backtests, "backtests", 3)
    assert backtests.text["bt-info"].startswith("Run bt-"), backtests.text["bt-info"]

    link = (10, 125, 85)  # the leaderboards' orchestrator links
    for name, url, colour in [("overview", f"{base}/?range=7d#/", SERIES_COLOURS[0]),
                              ("leaderboards", f"{base}/#/leaderboards", link),
                              ("orchestrator", f"{base}/#/o/{best}", SERIES_COLOURS[0]),
                              ("backtests", f"{base}/#/backtests", SERIES_COLOURS[0])]:
        wide, narrow = screenshots(browser, profile, url, artifacts, f"demo-{name}")
        # The charts' lines (the leaderboards' rows) are on screen at both widths.
        assert coloured_pixels(wide, colour) > 200, wide
        assert coloured_pixels(narrow, colour) > 50, narrow
