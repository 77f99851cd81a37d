"""The Explorer leaderboard API shapes (livepeer/leaderboard-serverless:
`/api/aggregated_stats`, `/api/regions`, `/api/pipelines`), parsed with the
field names and types its consumers read, over the recorded session."""
import json
import urllib.error
import urllib.request
from pathlib import Path

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
