"""Two versions of one rule in one lake never mix in what the server serves.

The recorded go-livepeer session is scored by SLA v1 and by a second SLA
version given as a file (`rule_v2`: v1 weighing latency instead of
quality). The router, the perf-stats feed, the
Explorer API and the dashboard then serve exactly the version chosen with
`naap serve --rule sla=N` (default: the newest), name it in the answer, and
the dashboard lets a reader switch."""
import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable, write_deltalake

from conftest import run
from dashboard_page import Page, chromium, chromium_binary

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "livepeer" / "gateway-events-sample.ndjson"
RULE_V1 = ROOT / "sql" / "rules" / "sla" / "v1.sql"
ONCHAIN = "0xd00354656922168815fcd1e51cbddb9e359e3c7f"
PIPELINE, MODEL = "live-video-to-video", "streamdiffusion-sdxl-faceid"
HOUR = 1767906000  # 2026-01-08T21:00:00Z, the recorded session's hour


def rule_v2(directory):
    """A second SLA version as a file: v1 with latency weighed in place of
    quality (0.4 reliability + 0.6 latency instead of 0.7 + 0.3 quality)."""
    text = RULE_V1.read_text()
    header, body = text.split("\nWITH ", 1)
    assert "-- version: 1\n" in header and "0.7 * reliability_score + 0.3 * quality_score" in body
    header = header.replace("-- version: 1\n", "-- version: 2\n").replace(
        "-- owner: naap maintainers", "-- owner: naap tests (a fixture, not a release)")
    body = body.replace("0.7 * reliability_score + 0.3 * quality_score", "0.4 * reliability_score + 0.6 * latency_score")
    path = directory / "sla_v2_weights_latency.sql"
    path.write_text(header + "\nWITH " + body)
    return path


def get(url):
    with urllib.request.urlopen(url, timeout=30) as answer:
        return dict(answer.headers), json.load(answer)


def lake_scores(lake):
    """SLA score of the recorded orchestrator per version, straight from the
    lake with the deltalake package (session-weighted over its rows)."""
    rows = DeltaTable(str(lake / "lake" / "sla_hourly")).to_pyarrow_table().to_pylist()
    out = {}
    for version in sorted({r["rule_version"] for r in rows}):
        mine = [r for r in rows if r["rule_version"] == version and r["orchestrator"] == ONCHAIN
                and r["sla_score"] is not None and r["requested_sessions"] > 0]
        weight = sum(r["requested_sessions"] for r in mine)
        out[version] = sum(r["sla_score"] * r["requested_sessions"] for r in mine) / weight
    return out


def served_scores(base):
    """What each endpoint serves for the recorded orchestrator, 0..100, and
    the SLA version each answer names."""
    seen = {}
    headers, body = get(f"{base}/v1/select?pipeline={PIPELINE}&model={MODEL}")
    [choice] = body["choices"]
    seen["router"] = (100 * choice["score"], body["rule_version"], headers["naap-rules"])
    headers, body = get(f"{base}/orch-perf-stats")
    seen["perf_stats"] = (100 * body[ONCHAIN]["GLOBAL"]["score"], None, headers["naap-rules"])
    headers, body = get(f"{base}/api/aggregated_stats?since={HOUR}&until={HOUR + 3600}")
    seen["explorer"] = (100 * body[ONCHAIN]["GLOBAL"]["score"], None, headers["naap-rules"])
    headers, body = get(f"{base}/v1/orchestrators")
    [row] = [r for r in body["orchestrators"] if r["orchestrator"] == ONCHAIN]
    seen["dashboard"] = (row["score"], row["rule_version"], headers["naap-rules"])
    headers, body = get(f"{base}/v1/orchestrators/{ONCHAIN}")
    rows = [r for r in body["sla_hourly"] if r["sla_score"] is not None]
    weighted = sum(r["sla_score"] * r["requested_sessions"] for r in rows) / sum(r["requested_sessions"] for r in rows)
    seen["history"] = (weighted, body["rules"]["sla"], headers["naap-rules"])
    return seen


def assert_serves(base, version, score):
    for endpoint, (value, named, header) in served_scores(base).items():
        assert value == pytest.approx(score, abs=1e-3), (endpoint, value, score)
        assert named in (None, version), (endpoint, named)
        assert f"sla={version}" in header.split(","), (endpoint, header)


def test_a_second_version_in_the_lake_is_not_averaged_in(naap_bin, serve_lake, tmp_path):
    """v2 rows written into the lake by another writer (the deltalake
    package): a server that knows only v1 serves v1, unmixed."""
    lake = tmp_path / "naap-data"
    run([naap_bin, "replay", "--input", str(SAMPLE), "--format", "livepeer-json", "--lake", str(lake)])
    path = str(lake / "lake" / "sla_hourly")
    v1 = DeltaTable(path).to_pyarrow_table()
    v2 = v1.set_column(v1.schema.get_field_index("rule_version"), "rule_version",
                       pa.array([2] * len(v1), pa.int32()))
    halved = pc.divide(v2["sla_score"], 2.0)
    v2 = v2.set_column(v2.schema.get_field_index("sla_score"), "sla_score", halved)
    write_deltalake(path, v2, mode="append")
    scores = lake_scores(lake)
    assert scores[1] == pytest.approx(85.0) and scores[2] == pytest.approx(42.5)

    _, http_port = serve_lake(lake)
    assert_serves(f"http://127.0.0.1:{http_port}", 1, 85.0)


def test_each_endpoint_serves_the_version_asked_for(naap_bin, serve_lake, tmp_path):
    lake = tmp_path / "naap-data"
    v2_file = rule_v2(tmp_path)
    out = run([naap_bin, "replay", "--input", str(SAMPLE), "--format", "livepeer-json", "--lake", str(lake),
               "--rule-file", str(v2_file)])
    scores = lake_scores(lake)
    assert set(scores) == {1, 2}, out.stdout
    assert scores[1] == pytest.approx(85.0)
    assert abs(scores[2] - scores[1]) > 1, scores  # the fixture weighs differently

    servers = {}
    for name, flags in {"newest": [], "v1": ["--rule", "sla=1"], "v2": ["--rule", "sla=2"]}.items():
        _, http_port = serve_lake(lake, "--rule-file", str(v2_file), *flags, name=name)
        servers[name] = f"http://127.0.0.1:{http_port}"
    assert_serves(servers["newest"], 2, scores[2])
    assert_serves(servers["v1"], 1, scores[1])
    assert_serves(servers["v2"], 2, scores[2])

    # The perf-stats feed keeps its own rule/version parameters.
    _, body = get(f"{servers['v2']}/orch-perf-stats?rule=sla&version=1")
    assert body[ONCHAIN]["GLOBAL"]["score"] == pytest.approx(scores[1] / 100)
    # The dashboard's JSON switches per request.
    headers, body = get(f"{servers['v2']}/v1/orchestrators?rule=sla&version=1")
    [row] = [r for r in body["orchestrators"] if r["orchestrator"] == ONCHAIN]
    assert (row["score"], row["rule_version"], body["rules"]["sla"]) == (pytest.approx(scores[1], abs=1e-3), 1, 1)
    assert "sla=1" in headers["naap-rules"].split(",")
    # The versions a reader can pick from.
    _, body = get(f"{servers['v1']}/v1/rules")
    sla = {r["version"]: r["served"] for r in body["rules"] if r["rule"] == "sla"}
    assert sla == {1: True, 2: False}

    # A version nobody has: a clear refusal, not an empty answer.
    with pytest.raises(urllib.error.HTTPError) as refused:
        get(f"{servers['v1']}/v1/orchestrators?rule=sla&version=9")
    message = json.load(refused.value)["error"]
    assert refused.value.code == 400 and "versions 1, 2" in message and "--" not in message, message
    # Half a choice, a version past any integer, a rule name of 7 000
    # bytes: each a 400 with a reason, and the server keeps serving.
    for query in ("rule=sla", "version=2", "rule=sla&version=99999999999999999999", f"rule={'x' * 7000}&version=1"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            get(f"{servers['v1']}/v1/orchestrators?{query}")
        assert refused.value.code == 400 and json.load(refused.value)["reason"] == "bad_request", query
    assert get(f"{servers['v1']}/v1/rules")[1]["rules"]
    failed = subprocess.run([naap_bin, "serve", "--lake", str(lake), "--rule", "sla=2"],
                            capture_output=True, text=True, timeout=60)
    assert failed.returncode != 0 and "--rule-file" in failed.stderr, failed.stderr

    # The dashboard in a browser, switched to each version by its picker's
    # address (`?sla=N`).
    browser = chromium_binary()
    for version in (1, 2):
        dom = chromium(browser, tmp_path / f"profile{version}", f"{servers['newest']}/?sla={version}", "--dump-dom")
        # The leaderboard of the chosen version, and only its rows.
        page = Page(dom)
        [board] = [b for b in page.boards if b["rule"].startswith("sla ")]
        cells = board["rows"][ONCHAIN]
        assert board["rule"] == f"sla v{version}" and cells[1] == f"{round(scores[version] * 1000) / 1000:.1f}", cells
        assert f'<option value="{version}" selected="">' in dom, dom[:2000]
