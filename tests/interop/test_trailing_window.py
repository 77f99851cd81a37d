"""Feeds that cover the network: an orchestrator quiet in the lake's newest
hour keeps its newest scored hour within the trailing window (`within`,
2 hours by default) in the perf-stats feed, the router's answer and the
overview, and each answer names the hour it used."""
import json
import urllib.error
import urllib.request
from collections import defaultdict
from datetime import timedelta, timezone

import deltalake

from conftest import run


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def iso(t):
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def newest_hours(lake, within, pipeline=None, model=None):
    """{orchestrator: its newest scored SLA hour (of one pipeline and model,
    if given)} within `within` of the SLA's newest hour, from the lake
    itself; and that newest hour."""
    rows = deltalake.DeltaTable(str(lake / "lake" / "sla_hourly")).to_pyarrow_table().to_pylist()
    rows = [r for r in rows if r["rule"] == "sla" and r["rule_version"] == 1]
    newest = max(r["window_start"] for r in rows)
    hours = defaultdict(set)
    for r in rows:
        if r["sla_score"] is not None and r["window_start"] > newest - within \
                and pipeline in (None, r["pipeline"]) and model in (None, r["model"]):
            hours[r["orchestrator"]].add(r["window_start"])
    return {o: max(h) for o, h in hours.items()}, newest


def test_a_quiet_newest_hour_does_not_shrink_the_feeds(naap_bin, serve_lake, tmp_path):
    # Four orchestrators for an hour, then three: sessions that run across
    # the hour make a thin newest hour, as on the live network.
    early, late, both = tmp_path / "early.ndjson", tmp_path / "late.ndjson", tmp_path / "all.ndjson"
    for n, start, path in [(4, "2026-01-08T20:00:00Z", early), (3, "2026-01-08T21:00:00Z", late)]:
        run([naap_bin, "emit", "--simulate", str(n), "--gateway-live", "--sessions-per-hour", "20",
             "--from", start, "--span", "1h", "--output", str(path)])
    both.write_bytes(early.read_bytes() + late.read_bytes())
    lake = tmp_path / "lake"
    run([naap_bin, "replay", "--input", str(both), "--format", "livepeer-json", "--lake", str(lake)])
    expected, newest = newest_hours(lake, timedelta(hours=2))
    quiet = {o for o, hour in expected.items() if hour < newest}
    assert quiet and len(expected) >= 4, (expected, newest)
    _, http_port = serve_lake(lake)
    base = f"http://127.0.0.1:{http_port}"

    # go-livepeer's feed: every orchestrator scored within two hours, each
    # entry naming its hour; one hour back, only the newest hour's.
    status, feed = get(f"{base}/orch-perf-stats")
    assert status == 200 and set(feed) == set(expected), (sorted(feed), sorted(expected))
    for orchestrator, regions in feed.items():
        assert {e["window_start"] for e in regions.values()} == {iso(expected[orchestrator])}, regions
    _, narrow = get(f"{base}/orch-perf-stats?within=1h")
    assert set(narrow) == set(expected) - quiet
    status, refused = get(f"{base}/orch-perf-stats?within=9d")
    assert status == 400 and "query parameter within" in refused["error"], refused

    # The router: every scored candidate carries its own hour.
    pipeline, model = "live-video-to-video", "streamdiffusion"
    status, selection = get(f"{base}/v1/select?pipeline={pipeline}&model={model}&n=100&min_score=0&explore=0")
    assert status == 200, selection
    scored = {c["address"]: c["window_start"] for c in selection["choices"] if c["score"] is not None}
    per_model, _ = newest_hours(lake, timedelta(hours=2), pipeline, model)
    assert set(scored) == set(per_model) and any(h < newest for h in per_model.values()), (scored, per_model)
    for address, hour in scored.items():
        assert hour == iso(per_model[address]), (address, hour)

    # NaaP's discovery: those advertised in the last 30 minutes (the three of
    # the second hour), scored over the two hours, quiet ones included.
    snapshots = deltalake.DeltaTable(str(lake / "lake" / "capability_snapshots")).to_pyarrow_table().to_pylist()
    last = max(x["event_time"] for x in snapshots)
    late_three = {x["address"].lower() for x in snapshots
                  if x["event_time"] > last - timedelta(minutes=30) and x["model_id"] == model}
    assert len(late_three) == 3, late_three
    status, found = get(f"{base}/v1/discover/orchestrators?caps={pipeline}/{model}")
    assert status == 200
    live = {r["orchestrator"]: r for r in found}
    assert set(live) == late_three and quiet & late_three, (sorted(live), quiet)
    rows = deltalake.DeltaTable(str(lake / "lake" / "sla_hourly")).to_pyarrow_table().to_pylist()
    for orchestrator, r in live.items():
        mine = [x for x in rows if x["orchestrator"] == orchestrator and x["sla_score"] is not None
                and x["requested_sessions"] and x["window_start"] > newest - timedelta(hours=2)]
        want = sum(x["sla_score"] * x["requested_sessions"] for x in mine) / sum(x["requested_sessions"] for x in mine)
        assert r["recent_work"] and r["score"] == round(want / 100, 3), (orchestrator, r, want)
        assert r["address"].startswith("https://") and f"{pipeline}/{model}" in r["capabilities"]
    scores = [r["score"] for r in found]
    assert scores == sorted(scores, reverse=True)

    # The overview's rows: each orchestrator's SLA from its own newest hour.
    status, listing = get(f"{base}/v1/orchestrators")
    assert status == 200
    sla = {r["orchestrator"]: r["window_start"] for r in listing["orchestrators"] if r["rule"] == "sla"}
    assert set(sla) == set(expected), (sla, expected)
    for orchestrator, hour in sla.items():
        assert hour == iso(expected[orchestrator]), (orchestrator, hour)
