"""The Explorer leaderboard API shapes (livepeer/leaderboard-serverless:
`/api/aggregated_stats`, `/api/regions`, `/api/pipelines`), parsed with the
field names and types its consumers read, over the recorded session."""
import json
import urllib.error
import urllib.request
from pathlib import Path

from lake_readers import duckdb_connection
from conftest import run

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "livepeer" / "gateway-events-sample.ndjson"
ONCHAIN = "0xd00354656922168815fcd1e51cbddb9e359e3c7f"
HOUR = 1767906000  # 2026-01-08T21:00:00Z, the recorded session's hour


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def parse_aggregated(body):
    """map[orchestrator]map[region]{score, success_rate, round_trip_score float64}"""
    assert isinstance(body, dict)
    for orch, by_region in body.items():
        assert orch.startswith("0x") and orch == orch.lower()
        assert isinstance(by_region, dict) and by_region
        for region, stats in by_region.items():
            assert region == region.upper()
            assert set(stats) == {"score", "success_rate", "round_trip_score"}, stats
            assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in stats.values()), stats
    return body


def test_the_explorer_api_shapes(naap_bin, serve_lake, tmp_path):
    lake = tmp_path / "lake"
    run([naap_bin, "replay", "--input", str(SAMPLE), "--format", "livepeer-json", "--lake", str(lake)])
    flight_port, http_port = serve_lake(lake, "--region-map", "=FRA")
    api = f"http://127.0.0.1:{http_port}/api"

    status, body = get(f"{api}/aggregated_stats?since={HOUR}&until={HOUR + 3600}")
    assert status == 200
    # SLA v1 85 -> 0.85; startup succeeded; the latency component of the
    # sparse-history neutral quality is 0.5.
    assert parse_aggregated(body) == {ONCHAIN: {"GLOBAL": {"score": 0.85, "success_rate": 1.0, "round_trip_score": 0.5}}}
    status, body = get(f"{api}/aggregated_stats?since={HOUR}&orchestrator={ONCHAIN.upper().replace('0X', '0x')}"
                       "&pipeline=live-video-to-video&model=streamdiffusion-sdxl-faceid&region=global")
    assert list(parse_aggregated(body)) == [ONCHAIN]
    # No sessions in the window: absent, never 0.
    assert get(f"{api}/aggregated_stats?since={HOUR + 3600}")[1] == {}
    assert get(f"{api}/aggregated_stats?since={HOUR}&pipeline=live-video-to-video&model=other")[1] == {}
    status, body = get(f"{api}/aggregated_stats?pipeline=live-video-to-video")
    assert status == 400 and "together" in body["error"]

    status, body = get(f"{api}/regions")
    assert status == 200
    assert all(set(r) == {"id", "name", "type"} and all(isinstance(v, str) for v in r.values()) for r in body["regions"])
    assert {r["id"] for r in body["regions"]} == {"FRA", "GLOBAL"}
    status, body = get(f"{api}/pipelines")
    assert body == {"pipelines": [{"id": "live-video-to-video", "models": ["streamdiffusion-sdxl-faceid"]}]}


def test_probe_figures_per_region_and_raw_stats(naap_bin, serve_lake, tmp_path):
    import duckdb

    network = json.loads(run([naap_bin, "emit", "--simulate", "4", "--describe"]).stdout)["orchestrators"]
    messages, lake = tmp_path / "in.naapmsg", tmp_path / "lake"
    start = 1767906000  # 2026-01-08T21:00:00Z
    run([naap_bin, "emit", "--simulate", "4", "--from", "2026-01-08T21:00:00Z", "--span", "3m",
         "--output", str(messages)])
    run([naap_bin, "replay", "--input", str(messages), "--lake", str(lake)])
    _, http_port = serve_lake(lake)
    api = f"http://127.0.0.1:{http_port}/api"

    status, body = get(f"{api}/aggregated_stats?since={start}&until={start + 180}")
    assert status == 200
    parse_aggregated(body)
    probes = duckdb_connection().sql(
        f"SELECT lower(orchestrator), upper(region), count(*), count(*) FILTER (WHERE probe_ok), "
        f"quantile_cont(latency_ms, 0.5) FROM delta_scan('{lake}/lake/node_telemetry') "
        f"WHERE kind = 'probe' GROUP BY ALL"
    ).fetchall()
    observers = {region for _, region, _, _, _ in probes}
    assert len(observers) > 1 and len(probes) == 4 * len(observers)
    p50s = sorted(p50 for *_, p50 in probes)
    median = (p50s[len(p50s) // 2 - 1] + p50s[len(p50s) // 2]) / 2
    for o, region, sent, ok, p50 in probes:
        stats = body[o][region]
        assert abs(stats["success_rate"] - ok / sent) < 1e-9, (o, stats)
        # e^(-k p50), 0.8 at the network's median p50 (DDSketch: 1 % relative error).
        assert abs(stats["round_trip_score"] - 0.8 ** (p50 / median)) < 0.01, (o, region, stats, p50, median)
        expected = 0.0 if ok == 0 else 0.65 * stats["success_rate"] + 0.35 * stats["round_trip_score"]
        assert abs(stats["score"] - expected) < 1e-9
    assert sorted(body) == sorted(o["address"] for o in network)
    one = network[0]
    region = sorted(observers)[0]
    assert get(f"{api}/aggregated_stats?since={start}&until={start + 180}&region={region.lower()}")[1] == {
        o["address"]: {region: body[o["address"]][region]} for o in network
    }
    # Job-specific requests leave job-agnostic probes out; an empty window is absent.
    assert get(f"{api}/aggregated_stats?since={start}&pipeline=p&model=m")[1] == {}
    assert get(f"{api}/aggregated_stats?since={start + 3600}")[1] == {}

    status, body = get(f"{api}/raw_stats?since={start}")
    assert status == 400 and "orchestrator" in body["error"]
    status, body = get(f"{api}/raw_stats?orchestrator={one['address'].upper().replace('0X', '0x')}"
                       f"&since={start}&until={start + 180}")
    assert status == 200 and set(body) == observers
    for o, observer, sent, ok, _ in probes:
        if o == one["address"]:
            assert len(body[observer]) == sent and sum(r["success_rate"] for r in body[observer]) == ok
    rows = body[region]
    for r in rows:
        assert set(r) == {"region", "orchestrator", "success_rate", "round_trip_time", "errors", "timestamp"}
        assert r["region"] == region and r["orchestrator"] == one["address"]
        assert isinstance(r["timestamp"], int) and start <= r["timestamp"] < start + 180
        assert isinstance(r["round_trip_time"], float) and r["round_trip_time"] > 0
        assert all(set(e) == {"error_code", "count"} for e in r["errors"])
        assert (r["errors"] == []) == (r["success_rate"] == 1.0)
    assert [r["timestamp"] for r in rows] == sorted((r["timestamp"] for r in rows), reverse=True)
    assert get(f"{api}/raw_stats?orchestrator={one['address']}&since={start}&region=NOWHERE")[1] == {}
    # Not an address: refused, not an empty answer.
    for route in ("raw_stats", "aggregated_stats"):
        status, body = get(f"{api}/{route}?orchestrator=0xZZ&since={start}")
        assert status == 400 and "40 hex digits" in body["error"], (route, status, body)
