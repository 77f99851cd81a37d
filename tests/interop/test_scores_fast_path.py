"""The gateways' fast path: latest scores from the in-memory snapshot over
HTTP (ETag / If-None-Match) and Flight DoGet tickets with filters, swapped
when a new commit lands in the lake."""
import json
import urllib.error
import urllib.request

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from conftest import run, wait_until


def get(url, etag=None):
    request = urllib.request.Request(url, headers={"If-None-Match": etag} if etag else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers["ETag"], json.load(answer)
    except urllib.error.HTTPError as e:
        body = e.read()
        return e.code, e.headers["ETag"], json.loads(body) if e.code >= 400 else None


def test_scores_are_served_from_a_snapshot_swapped_on_commit(naap_bin, serve_lake, tmp_path):
    network = json.loads(run([naap_bin, "emit", "--simulate", "4", "--describe"]).stdout)["orchestrators"]
    first = network[0]["address"]
    lake = tmp_path / "lake"
    early, late = tmp_path / "early.naapmsg", tmp_path / "late.naapmsg"
    for path, start in [(early, "2026-01-08T21:00:00Z"), (late, "2026-01-08T21:03:00Z")]:
        run([naap_bin, "emit", "--simulate", "4", "--from", start, "--span", "3m", "--output", str(path)])
    run([naap_bin, "replay", "--input", str(early), "--lake", str(lake)])
    flight_port, http_port = serve_lake(lake)
    base = f"http://127.0.0.1:{http_port}/v1/scores"

    status, etag, rows = get(base)
    assert status == 200 and etag and len(rows) == 4
    # The early span's last minute (21:02) is every orchestrator's latest window.
    assert {r["window_start"] for r in rows} == {"2026-01-08T21:02:00Z"}, rows
    assert get(base, etag)[:2] == (304, etag)
    status, _, mine = get(f"{base}?orchestrator={first.upper().replace('0X', '0x')}&rule=uptime&version=1")
    assert status == 200 and [r["orchestrator"] for r in mine] == [first]
    # A filter that could only answer nothing is refused, in HTTP's words.
    refusals = {
        "rule=sla": ["sla_hourly", "uptime"],
        "rule=nope": ["jobs, sla, uptime"],
        "rule=uptime&version=9": ["no version 9", "it has 1"],
        "orchestrator=0xZZ": ["orchestrator", "40 hex digits"],
        "version=abc": ["query parameter version"],
        "version=1&version=2": ["version", "more than once"],
    }
    for query, words in refusals.items():
        status, _, body = get(f"{base}?{query}")
        assert status == 400 and body["reason"] == "bad_request", (query, status, body)
        assert all(w in body["error"] for w in words), (query, body)
        assert "deserializ" not in body["error"].lower() and "--" not in body["error"], (query, body)

    client = flight.connect(f"grpc://127.0.0.1:{flight_port}")
    table = client.do_get(flight.Ticket(f"scores?rule=uptime&version=1&orchestrator={first}".encode())).read_all()
    assert table.column("orchestrator").to_pylist() == [first]
    assert client.do_get(flight.Ticket(b"scores")).read_all().num_rows == 4
    with pytest.raises(pa.ArrowInvalid, match="unknown filter"):
        client.do_get(flight.Ticket(b"scores?gpu=a100")).read_all()
    with pytest.raises(pa.ArrowInvalid, match="sla_hourly"):
        client.do_get(flight.Ticket(b"scores?rule=sla")).read_all()
    with pytest.raises(pa.ArrowInvalid, match="40 hex digits"):
        client.do_get(flight.Ticket(b"scores?orchestrator=0xZZ")).read_all()

    # Region filters keep orchestrators whose nodes reported from there (any case).
    by_region = {}
    for o in network:
        by_region.setdefault(o["region"].upper(), []).append(o["address"])
    for region, addresses in by_region.items():
        assert sorted(r["orchestrator"] for r in get(f"{base}?region={region.lower()}")[2]) == sorted(addresses)
        table = client.do_get(flight.Ticket(f"scores?region={region}".encode())).read_all()
        assert sorted(table.column("orchestrator").to_pylist()) == sorted(addresses)
    assert get(f"{base}?region=NOWHERE")[2] == []
    # Nobody here advertised or served a pipeline: none kept, not all.
    assert get(f"{base}?pipeline=live-video-to-video&model=streamdiffusion")[2] == []

    # A new commit: the snapshot is swapped, the ETag moves, windows advance.
    run([naap_bin, "replay", "--input", str(late), "--lake", str(lake)])
    wait_until(lambda: get(base, etag)[0] == 200, 15, "a new scores snapshot after the commit")
    status, new_etag, rows = get(base)
    assert new_etag != etag
    assert {r["window_start"] for r in rows} == {"2026-01-08T21:05:00Z"}, rows
