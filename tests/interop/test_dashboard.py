"""The dashboard as a person meets it: Debian's Chromium, headless, renders
`/` against a lake built from replays, and the test reads the orchestrator
table out of the rendered DOM; screenshots are kept as test artifacts."""
import json
import os
from datetime import datetime, timedelta, timezone
import shutil
import subprocess
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import run

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "livepeer" / "gateway-events-sample.ndjson"
ONCHAIN = "0xd00354656922168815fcd1e51cbddb9e359e3c7f"


def chromium_binary():
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed and CI=true: run through ./test.sh")
        pytest.skip("chromium not installed (./test.sh installs Debian's package)")
    return found


def chromium(binary, profile, url, *extra):
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--virtual-time-budget=15000", *extra, url]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout


class Rows(HTMLParser):
    """The rendered orchestrator table: one list of cell texts per row."""

    def __init__(self):
        super().__init__()
        self.rows, self.row, self.cell, self.in_table = {}, None, None, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id") == "orchestrators":
            self.in_table = True
        elif self.in_table and tag == "tr" and "data-orchestrator" in attrs:
            self.row = self.rows.setdefault(attrs["data-orchestrator"], [])
        elif self.row is not None and tag == "td":
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "tr":
            self.row = None
        elif tag == "table":
            self.in_table = False

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def test_the_dashboard_renders_the_lake(naap_bin, serve_lake, tmp_path):
    browser = chromium_binary()
    artifacts = Path(os.environ.get("NAAP_TEST_ARTIFACTS", tmp_path / "artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
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
    with urllib.request.urlopen(f"{base}/v1/dashboard/kpi", timeout=30) as answer:
        kpi = json.load(answer)["requests"]
    assert kpi["ai_batch"]["total_jobs"] > 100 and kpi["byoc"]["total_jobs"] > 50, kpi
    with urllib.request.urlopen(f"{base}/v1/orchestrators", timeout=30) as answer:
        api = {r["orchestrator"]: r for r in json.load(answer)["orchestrators"]}
    assert len(api) == 5

    dom = chromium(browser, tmp_path / "profile", f"{base}/", "--dump-dom")
    table = Rows()
    table.feed(dom)
    assert set(table.rows) == set(api), dom[-2000:]
    # The recorded orchestrator: SLA v1 of its sealed hour, 85, its GPU from
    # network_capabilities; the simulated ones: their latest uptime score.
    recorded = table.rows[ONCHAIN]
    assert recorded[0] == ONCHAIN and recorded[1] == "85.0" and recorded[2] == "sla v1", recorded
    assert recorded[6] == "NVIDIA GeForce RTX 5090", recorded
    for address, row in api.items():
        if address != ONCHAIN:
            assert table.rows[address][1] == f"{row['score']:.1f}" and table.rows[address][2] == "uptime v1"
    # The overview cards.
    assert 'id="ov-orchestrators">5<' in dom, dom[:3000]
    # The request panels: the KPIs, the LLM model, every simulated orchestrator.
    assert f'id="rq-ai-jobs">{kpi["ai_batch"]["total_jobs"]}<' in dom, dom[-4000:]
    assert f'id="rq-byoc-jobs">{kpi["byoc"]["total_jobs"]}<' in dom
    assert "<td>meta-llama/Meta-Llama-3.1-8B-Instruct</td>" in dom, dom[-4000:]
    for i in range(3):
        assert f"<td>https://orch-{i}.sim.naap.example:8935</td>" in dom, dom[-4000:]
    chromium(browser, tmp_path / "profile", f"{base}/", f"--screenshot={artifacts / 'dashboard.png'}",
             "--window-size=1280,800")
    assert (artifacts / "dashboard.png").stat().st_size > 10_000

    page = chromium(browser, tmp_path / "profile", f"{base}/#/o/{ONCHAIN}", "--dump-dom")
    assert f'id="o-title">{ONCHAIN}<' in page
    assert page.count("<polyline") >= 2, page[-3000:]  # the SLA and sessions charts have a line
    assert "NVIDIA GeForce RTX 5090" in page
    chromium(browser, tmp_path / "profile", f"{base}/#/o/{ONCHAIN}",
             f"--screenshot={artifacts / 'orchestrator.png'}", "--window-size=1280,800")
