"""The reference router over the recorded go-livepeer session: `/v1/select`,
the Flight action `select` (pyarrow.flight), and `/orch-webhook` read the way
go-livepeer's webhook discovery reads it."""
import json
import urllib.request
from pathlib import Path

import pyarrow.flight as flight

from conftest import run

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "livepeer" / "gateway-events-sample.ndjson"
ONCHAIN = "0xd00354656922168815fcd1e51cbddb9e359e3c7f"
URI = "https://rtav-orch2.xodeapp.xyz:28935"
PIPELINE, MODEL = "live-video-to-video", "streamdiffusion-sdxl-faceid"


def get(url):
    with urllib.request.urlopen(url, timeout=30) as answer:
        return answer.status, dict(answer.headers), json.load(answer)


def parse_webhook(body):
    """go-livepeer's webhook pool: a JSON array of objects whose `address` is
    a service URI it dials; anything else fails its decode."""
    assert isinstance(body, list)
    uris = []
    for entry in body:
        assert isinstance(entry, dict) and isinstance(entry["address"], str), entry
        assert entry["address"].startswith("https://"), entry
        uris.append(entry["address"])
    return uris


def test_the_router_picks_the_recorded_orchestrator(naap_bin, serve_lake, tmp_path):
    lake = tmp_path / "lake"
    run([naap_bin, "replay", "--input", str(SAMPLE), "--format", "livepeer-json", "--lake", str(lake)])
    # The recorded gateway's id is empty; label its sessions FRA.
    flight_port, http_port = serve_lake(lake, "--region-map", "=FRA")
    base = f"http://127.0.0.1:{http_port}"

    status, _, body = get(f"{base}/v1/select?pipeline={PIPELINE}&model={MODEL}&region=FRA")
    assert status == 200
    assert body["window_start"] == "2026-01-08T21:00:00Z"
    [choice] = body["choices"]
    # SLA v1 85 -> 0.85; the only candidate is the cheapest (1635.021 wei/pixel)
    # and the fastest (77 ms from FRA): 0.6 * 0.85 + 0.2 * 1 + 0.2 * 1 = 0.91.
    assert (choice["address"], choice["uri"], choice["reason"]) == (ONCHAIN, URI, "ranked")
    assert (choice["score"], choice["price_wei_per_pixel"], choice["latency_ms"]) == (0.85, 1635.021, 77.0)
    assert abs(choice["value"] - 0.91) < 1e-9

    # No latency measured from LAX: the latency factor is neutral (0.5).
    _, _, body = get(f"{base}/v1/select?pipeline={PIPELINE}&model={MODEL}&region=LAX")
    [choice] = body["choices"]
    assert choice["latency_ms"] is None and abs(choice["value"] - 0.81) < 1e-9
    # Below the minimum score, it is dropped; nothing is made up in its place.
    _, _, body = get(f"{base}/v1/select?pipeline={PIPELINE}&model={MODEL}&min_score=0.9")
    assert body["choices"] == []
    # A model nobody advertises has no candidates, never a score of 0.
    _, _, body = get(f"{base}/v1/select?pipeline={PIPELINE}&model=no-such-model")
    assert body["choices"] == []

    status, headers, body = get(f"{base}/orch-webhook?region=FRA&pipeline={PIPELINE}&model={MODEL}")
    assert parse_webhook(body) == [URI]
    assert headers["x-naap-window"] == "2026-01-08T21:00:00Z"

    client = flight.connect(f"grpc://127.0.0.1:{flight_port}")
    assert "select" in [a.type for a in client.list_actions()]
    request = {"pipeline": PIPELINE, "model": MODEL, "region": "FRA", "n": 3, "seed": 1}
    [result] = list(client.do_action(flight.Action("select", json.dumps(request).encode())))
    answer = json.loads(result.body.to_pybytes())
    assert [c["address"] for c in answer["choices"]] == [ONCHAIN]
