"""The OpenAPI document is true: every documented path answers with a
documented status, JSON bodies carry the documented required fields, and
/metrics counts what was served."""
import json
import urllib.error
import urllib.request
from pathlib import Path

from conftest import run

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "livepeer" / "gateway-events-sample.ndjson"
ONCHAIN = "0xd00354656922168815fcd1e51cbddb9e359e3c7f"
EXAMPLES = {"address": ONCHAIN, "file": "app.js", "chart": "sessions", "pipeline": "live-video-to-video",
            "model": "streamdiffusion-sdxl-faceid"}


# A body for each documented POST.
BODIES = {"/api/v1/orchestrator-leaderboard/rank": {"capability": "streamdiffusion-sdxl-faceid"}}


def fetch(url, body=None):
    request = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers.get("Content-Type", ""), answer.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


def resolve(doc, node):
    while isinstance(node, dict) and "$ref" in node:
        target = doc
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def test_every_documented_path_answers_as_documented(naap_bin, serve_lake, tmp_path):
    lake = tmp_path / "lake"
    run([naap_bin, "replay", "--input", str(SAMPLE), "--format", "livepeer-json", "--lake", str(lake)])
    flight_port, http_port = serve_lake(lake)
    base = f"http://127.0.0.1:{http_port}"
    status, kind, body = fetch(f"{base}/openapi.json")
    assert status == 200 and kind.startswith("application/json")
    doc = json.loads(body)
    assert doc["openapi"].startswith("3.")
    assert len(doc["paths"]) >= 14

    operations = [(path, method, op) for path, item in doc["paths"].items() for method, op in item.items()]
    assert {m for _, m, _ in operations} == {"get", "post"}, operations
    for path, method, op in operations:
        query = []
        url = path
        for p in (resolve(doc, p) for p in op.get("parameters", [])):
            if p["in"] == "path":
                url = url.replace("{" + p["name"] + "}", EXAMPLES[p["name"]])
            elif p["in"] == "query" and p.get("required"):
                query.append(f"{p['name']}={EXAMPLES[p['name']]}")
        status, kind, body = fetch(base + url + ("?" + "&".join(query) if query else ""),
                                   BODIES[path] if method == "post" else None)
        documented = op["responses"]
        assert str(status) in documented, (path, status, body[:300])
        content = documented[str(status)].get("content", {})
        if "application/json" in content:
            assert kind.startswith("application/json"), (path, kind)
            value = json.loads(body)
            schema = resolve(doc, content["application/json"].get("schema", {}))
            if schema.get("type") == "object":
                missing = set(schema.get("required", [])) - set(value)
                assert not missing, (path, missing)
            if schema.get("type") == "array":
                assert isinstance(value, list), path

    # /metrics counted what was just served, and names the snapshot.
    status, _, text = fetch(f"{base}/metrics")
    text = text.decode()
    assert 'naap_http_requests_total{route="/v1/select",status="200"} 1' in text, text
    assert 'naap_http_requests_total{route="/openapi.json",status="200"} 2' in text, text
    assert 'naap_http_requests_total{route="/v1/quarantine/recent",status="403"} 1' in text, text
    assert 'naap_requests_refused_total{reason="not_admin"} 1' in text, text
    assert "naap_scores_snapshot_rows{versions=" in text
