"""livepeer/naap's leaderboard ranking over HTTP: its request, validation
messages, envelope and ranking rules, checked against the rules restated
here (weights over 0.4/0.3/0.3 normalised, min-max per metric with lower
better, no value 0.5, equal min and max 1, rounded to 3 decimals before a
stable sort)."""
import json
import math
import urllib.error
import urllib.request

import pytest

from conftest import run

RANK = "/api/v1/orchestrator-leaderboard/rank"
MODEL = "streamdiffusion"


@pytest.fixture(scope="module")
def base(naap_bin, tmp_path_factory):
    from conftest import Proc, free_port, port_open, wait_until
    dir = tmp_path_factory.mktemp("leaderboard")
    events, lake = dir / "live.ndjson", dir / "lake"
    run([naap_bin, "emit", "--simulate", "8", "--gateway-live", "--sessions-per-hour", "10",
         "--from", "2026-01-08T20:00:00Z", "--span", "2h", "--output", str(events)])
    run([naap_bin, "replay", "--input", str(events), "--format", "livepeer-json", "--lake", str(lake)])
    http_port = free_port()
    server = Proc([naap_bin, "serve", "--lake", str(lake), "--http-addr", f"127.0.0.1:{http_port}",
                   "--flight-addr", f"127.0.0.1:{free_port()}",
                   "--region-map", "gw-eu-west.sim.naap.example=EU"], dir / "serve.log")
    try:
        wait_until(lambda: port_open(http_port), 30, "naap serve")
        yield f"http://127.0.0.1:{http_port}"
    finally:
        server.stop()


def post(base, body):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(base + RANK, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers, json.load(answer)
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.load(e)


def expected_order(rows, weights):
    """livepeer/naap's rerank, restated: (orchUri, slaScore) best first."""
    merged = {"latency": 0.4, "swapRate": 0.3, "price": 0.3}
    merged.update({k: (v or 0) for k, v in weights.items()})
    merged = {k: max(0.0, v) for k, v in merged.items()}
    total = sum(merged.values())
    merged = {"latency": 0.4, "swapRate": 0.3, "price": 0.3} if total == 0 else {k: v / total for k, v in merged.items()}

    def span(key):
        values = [r[key] for r in rows if r[key] is not None]
        return (min(values), max(values)) if values else (math.inf, -math.inf)

    def scaled(value, bounds):
        lo, hi = bounds
        return 0.5 if value is None else 1.0 if lo == hi else 1 - (value - lo) / (hi - lo)

    bounds = {k: span(k) for k in ("bestLatMs", "swapRatio", "pricePerUnit")}
    scored = [(r["orchUri"], round(1000 * (merged["latency"] * scaled(r["bestLatMs"], bounds["bestLatMs"])
                                           + merged["swapRate"] * scaled(r["swapRatio"], bounds["swapRatio"])
                                           + merged["price"] * scaled(r["pricePerUnit"], bounds["pricePerUnit"]))) / 1000)
              for r in rows]
    return sorted(scored, key=lambda s: -s[1])  # stable, like the plugin's


def test_rank_answers_in_the_plugins_shape(base):
    status, headers, body = post(base, {"capability": MODEL, "topN": 1000})
    assert status == 200 and body["success"] is True and set(body) == {"success", "data"}
    assert headers["Cache-Control"] == "private, max-age=10"
    rows = body["data"]
    assert len(rows) >= 4, rows
    for r in rows:
        assert isinstance(r["orchUri"], str) and r["orchUri"].startswith("https://")
        assert isinstance(r["gpuName"], str) and r["gpuGb"] > 0
        for key in ("gpuGb", "avail", "totalCap", "pricePerUnit"):
            assert isinstance(r[key], (int, float)), (key, r)
        for key in ("bestLatMs", "avgLatMs", "swapRatio", "avgAvail"):
            assert r[key] is None or isinstance(r[key], (int, float)), (key, r)
        assert "slaScore" not in r and r["avail"] > 0 and r["avail"] <= r["totalCap"]
        assert r["naap"]["snapshots"] >= 1 and r["naap"]["address"].startswith("0x")
    # Without weights: lowest best latency first, as the plugin's source orders.
    latencies = [r["bestLatMs"] for r in rows if r["bestLatMs"] is not None]
    assert latencies == sorted(latencies)
    # topN cuts; a model nobody offers is an empty list, not an error.
    assert len(post(base, {"capability": MODEL, "topN": 2})[2]["data"]) == 2
    assert post(base, {"capability": "nonexistent"})[2] == {"success": True, "data": []}


def test_each_filter_bounds_rows_inclusively(base):
    rows = post(base, {"capability": MODEL, "topN": 1000})[2]["data"]
    pick = lambda key: sorted(r[key] for r in rows if r[key] is not None)[len(rows) // 2]
    cases = {
        "gpuRamGbMin": lambda r, b: r["gpuGb"] >= b,
        "gpuRamGbMax": lambda r, b: r["gpuGb"] <= b,
        "priceMax": lambda r, b: r["pricePerUnit"] <= b,
        "maxAvgLatencyMs": lambda r, b: r["avgLatMs"] is not None and r["avgLatMs"] <= b,
        "maxSwapRatio": lambda r, b: r["swapRatio"] is not None and r["swapRatio"] <= b,
    }
    source = {"gpuRamGbMin": "gpuGb", "gpuRamGbMax": "gpuGb", "priceMax": "pricePerUnit",
              "maxAvgLatencyMs": "avgLatMs", "maxSwapRatio": "swapRatio"}
    for name, keeps in cases.items():
        bound = pick(source[name])
        got = post(base, {"capability": MODEL, "topN": 1000, "filters": {name: bound}})[2]["data"]
        assert sorted(r["orchUri"] for r in got) == sorted(r["orchUri"] for r in rows if keeps(r, bound)), name
        assert got, (name, bound)
    combined = post(base, {"capability": MODEL, "topN": 1000,
                           "filters": {"priceMax": pick("pricePerUnit"), "maxSwapRatio": None}})[2]["data"]
    assert all(r["pricePerUnit"] <= pick("pricePerUnit") for r in combined)
    assert post(base, {"capability": MODEL, "filters": {"priceMax": 0}})[2]["data"] == []


def test_weights_rank_as_the_plugin_does(base):
    rows = post(base, {"capability": MODEL, "topN": 1000})[2]["data"]
    for weights in ({}, {"latency": 0.5, "swapRate": 0.3, "price": 0.2}, {"latency": 1, "swapRate": 0, "price": 0},
                    {"latency": 0, "swapRate": 0, "price": 1}, {"price": None}, {"latency": -3}):
        got = post(base, {"capability": MODEL, "topN": 1000, "slaWeights": weights})[2]["data"]
        assert [(r["orchUri"], r["slaScore"]) for r in got] == expected_order(rows, weights), weights
    # Weights are normalised: 4/3/3 ranks and scores as 0.4/0.3/0.3.
    scaled = post(base, {"capability": MODEL, "slaWeights": {"latency": 4, "swapRate": 3, "price": 3}})[2]["data"]
    plain = post(base, {"capability": MODEL, "slaWeights": {"latency": 0.4, "swapRate": 0.3, "price": 0.3}})[2]["data"]
    assert scaled == plain
    # Custom weights reorder: by price alone the cheapest leads.
    by_price = post(base, {"capability": MODEL, "slaWeights": {"latency": 0, "swapRate": 0, "price": 1}})[2]["data"]
    assert by_price[0]["pricePerUnit"] == min(r["pricePerUnit"] for r in rows)
    # One row left: every metric's min equals its max, so it scores 1.
    first = rows[0]["orchUri"]
    alone = [r for r in rows if r["pricePerUnit"] <= rows[0]["pricePerUnit"]]
    if len(alone) == 1:
        [only] = post(base, {"capability": MODEL, "filters": {"priceMax": rows[0]["pricePerUnit"]},
                             "slaWeights": {}})[2]["data"]
        assert (only["orchUri"], only["slaScore"]) == (first, 1.0)


@pytest.mark.parametrize("body, message", [
    (b"", "Invalid JSON body"),
    (b"{not json", "Invalid JSON body"),
    ({"topN": 5}, "capability is required and must be a string"),
    ({"capability": ""}, "capability is required and must be a string"),
    ({"capability": "'; DROP TABLE --"}, "capability contains invalid characters"),
    ({"capability": MODEL, "topN": 0}, "topN must be an integer between 1 and 1000"),
    ({"capability": MODEL, "topN": 1001}, "topN must be an integer between 1 and 1000"),
    ({"capability": MODEL, "topN": "5"}, "topN must be an integer between 1 and 1000"),
    ({"capability": MODEL, "filters": {"priceMax": "cheap"}}, "filters.priceMax must be a number"),
])
def test_bad_requests_are_the_plugins_400s(base, body, message):
    status, _, answer = post(base, body)
    assert status == 400
    assert answer == {"success": False, "error": {"code": "VALIDATION_ERROR", "message": message}}


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.headers, json.load(answer)
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.load(e)


def router_order(rows):
    """The reference router's order, restated (README, "Routing by score"):
    0.6 * score + 0.2 * (cheapest / price) + 0.2 * (fastest / latency), a
    factor without evidence 0.5, best first, ties by address; the unscored
    after, by service URI."""
    score = {r["orchUri"]: r["naap"]["slaScore"] if r["naap"]["slaScore"] is not None else r["naap"]["jobsScore"]
             for r in rows}
    prices = [r["pricePerUnit"] for r in rows if score[r["orchUri"]] is not None and r["pricePerUnit"] > 0]
    latencies = [r["bestLatMs"] for r in rows if score[r["orchUri"]] is not None and r["bestLatMs"]]

    def factor(best, this):
        if this is None:
            return 0.5
        return min(1.0, best / this) if best and this > 0 else 1.0

    def value(r):
        return (0.6 * score[r["orchUri"]] + 0.2 * factor(min(prices, default=None), r["pricePerUnit"] or None)
                + 0.2 * factor(min(latencies, default=None), r["bestLatMs"]))

    scored = sorted((r for r in rows if score[r["orchUri"]] is not None),
                    key=lambda r: (-round(value(r), 12), r["naap"]["address"]))
    unscored = sorted(r["orchUri"] for r in rows if score[r["orchUri"]] is None)
    return [r["orchUri"] for r in scored] + unscored


def test_python_gateway_lists_service_uris_shuffled_within_tiers(base):
    rows = post(base, {"capability": MODEL, "topN": 1000})[2]["data"]
    ranked = router_order(rows)
    assert any(r["naap"]["slaScore"] is not None for r in rows), "the order rests on scores"
    assert ranked != [r["orchUri"] for r in rows], "the router's order is not the plugin's here"
    url = f"{base}/api/v1/orchestrator-leaderboard/python-gateway"
    status, headers, body = get(f"{url}?caps=live-video-to-video/{MODEL}&topN=1000")
    assert status == 200 and headers["X-Discovery-Mode"] == "default"
    assert headers["Cache-Control"] == "private, no-store, must-revalidate"
    assert all(set(e) == {"address"} for e in body)
    addresses = [e["address"] for e in body]
    assert sorted(addresses) == sorted(ranked)
    # Five tiers of about equal size (two or more each): each holds the
    # same orchestrators as the same slice of the ranking.
    n = len(ranked)
    size = max(2, -(-n // 5))
    tiers = min(n, -(-n // size))
    start = 0
    for i in range(tiers):
        length = n // tiers + (1 if i < n % tiers else 0)
        assert set(addresses[start:start + length]) == set(ranked[start:start + length]), i
        start += length
    # topN cuts before the shuffle; repeats across caps count once.
    _, _, three = get(f"{url}?caps={MODEL}&caps=live-video-to-video/{MODEL}&topN=3")
    assert sorted(e["address"] for e in three) == sorted(ranked[:3])
    # No capability named: noop, which nobody offers here.
    assert get(url)[2] == []
    # An invalid topN falls back to 100; a capability that is not one is refused.
    assert len(get(f"{url}?caps={MODEL}&topN=abc")[2]) == min(n, 100)
    status, _, refused = get(f"{url}?caps=a%20b")
    assert status == 400 and refused["error"]["message"] == "capability contains invalid characters"
    # Each capability reads the hour's snapshots: 33 distinct are refused,
    # 32 (and repeats, as many as a URL holds) are not.
    status, _, refused = get(url + "?" + "&".join(f"caps=m{i}" for i in range(33)))
    assert status == 400 and "at most 32" in refused["error"]["message"], refused
    status, _, body = get(url + "?" + "&".join(f"caps=m{i % 32}" for i in range(700)))
    assert status == 200 and body == []


def test_naaps_sla_and_jobs_weights_rank_by_what_the_network_measured(base):
    rows = post(base, {"capability": MODEL, "topN": 1000})[2]["data"]
    assert all("slaScore" in r["naap"] and "jobsScore" in r["naap"] for r in rows)
    scored = [r for r in rows if r["naap"]["slaScore"] is not None]
    assert len(scored) >= 2, "the simulated network's live sessions are scored"
    assert all(0 <= r["naap"]["slaScore"] <= 1 for r in scored)
    weights = {"latency": 0, "swapRate": 0, "price": 0, "sla": 1}
    ranked = post(base, {"capability": MODEL, "topN": 1000, "slaWeights": weights})[2]["data"]
    # Best SLA first, a row without a score between (0.5), not last.
    key = [r["naap"]["slaScore"] for r in ranked]
    known = [k for k in key if k is not None]
    assert known == sorted(known, reverse=True) and ranked[0]["naap"]["slaScore"] == max(known)
    # Absent, they change nothing: the plugin's ranking stands.
    plain = post(base, {"capability": MODEL, "topN": 1000, "slaWeights": {"latency": 0.5}})[2]["data"]
    zero = post(base, {"capability": MODEL, "topN": 1000, "slaWeights": {"latency": 0.5, "sla": 0, "jobs": 0}})
    assert zero[2]["data"] == plain
    assert post(base, {"capability": MODEL, "slaWeights": {"sla": "high"}})[0] == 400


def test_a_region_takes_the_latency_its_gateways_measured(base):
    everywhere = {r["orchUri"]: r for r in post(base, {"capability": MODEL, "topN": 1000})[2]["data"]}
    eu = {r["orchUri"]: r for r in post(base, {"capability": MODEL, "topN": 1000, "region": "EU"})[2]["data"]}
    rest = {r["orchUri"]: r for r in post(base, {"capability": MODEL, "topN": 1000, "region": "GLOBAL"})[2]["data"]}
    assert eu.keys() == rest.keys() == everywhere.keys()
    assert any(r["naap"]["latencySamples"] > 0 for r in eu.values())
    for uri, row in everywhere.items():
        # The EU gateway's round trips and the unmapped gateways' add up to all of them.
        split = eu[uri]["naap"]["latencySamples"] + rest[uri]["naap"]["latencySamples"]
        assert split == row["naap"]["latencySamples"], uri
        if eu[uri]["bestLatMs"] is not None and rest[uri]["bestLatMs"] is not None:
            assert row["bestLatMs"] == min(eu[uri]["bestLatMs"], rest[uri]["bestLatMs"])
    nowhere = post(base, {"capability": MODEL, "topN": 1000, "region": "MARS"})[2]["data"]
    assert all(r["bestLatMs"] is None and r["naap"]["latencySamples"] == 0 for r in nowhere)
    status, _, answer = post(base, {"capability": MODEL, "region": "EU; DROP"})
    assert status == 400 and "region" in answer["error"]["message"]
