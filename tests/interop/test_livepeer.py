"""go-livepeer's recorded gateway events through `naap replay`, read back with
DuckDB, and the perf-score feed read the way a go-livepeer gateway reads it."""
import json
import urllib.request
from pathlib import Path

import pytest

from lake_readers import duckdb_connection
from conftest import free_port, run, wait_until

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "livepeer" / "gateway-events-sample.ndjson"
ONCHAIN = "0xd00354656922168815fcd1e51cbddb9e359e3c7f"
OPERATING = "0x52cf2968b3dc6016778742d3539449a6597d5954"


def replay(naap_bin, ndjson, lake):
    out = run([naap_bin, "replay", "--input", str(ndjson), "--format", "livepeer-json", "--lake", str(lake)]).stdout
    return out


def rows(lake, table, where=""):
    rel = duckdb_connection().sql(f"SELECT * FROM delta_scan('{lake / 'lake' / table}') {where}")
    return [dict(zip(rel.columns, r)) for r in rel.fetchall()]


def test_recorded_session_scores_as_the_naap_definitions_say(naap_bin, tmp_path):
    lake = tmp_path / "naap-data"
    out = replay(naap_bin, SAMPLE, lake)
    assert "quarantined 0" in out, out

    [sla] = rows(lake, "sla_hourly")
    # The session's events name the operating address; network_capabilities
    # maps local_address 0x52cf… to the on-chain 0xd003…, which keys the score.
    assert sla["orchestrator"] == ONCHAIN
    assert sla["window_start"].isoformat().startswith("2026-01-08T21:00:00")
    assert (sla["rule"], sla["rule_version"]) == ("sla", 1)
    # The model comes from the status `pipeline` hint, the pipeline from the
    # orchestrator's advertised hardware entry for that model.
    assert (sla["pipeline"], sla["model"]) == ("live-video-to-video", "streamdiffusion-sdxl-faceid")

    # By hand, from the 65 recorded events (one session, stream-o5s73x|db936fab):
    # * requested: gateway_receive_stream_request seen -> requested_sessions 1;
    # * playable: gateway_receive_few_processed_segments seen -> startup success,
    #   startup_success_rate 1/1 = 1;
    # * one orchestrator (0x52cf… = 0xd003…), no orchestrator_swap -> no_swap_rate 1;
    # * 17 status samples, all ONLINE or DEGRADED_INFERENCE with fps > 0 ->
    #   neither loading-only nor zero-fps -> output_viability_rate 1;
    # * health signals: a status sample, a first processed segment and a
    #   playable signal = 3 of 3 expected -> coverage 1;
    # * reliability = 0.4*1 + 0.2*1 + 0.4*1 = 1;
    # * no benchmark history (no earlier days) -> every quality component is
    #   the neutral 0.5 -> quality = 0.6*(0.6*0.5 + 0.4*0.5) + 0.4*0.5 = 0.5;
    # * sla_score = 100 * 1 * (0.7*1 + 0.3*0.5) = 85.
    assert sla["requested_sessions"] == 1
    assert sla["startup_success_rate"] == 1.0
    assert sla["no_swap_rate"] == 1.0
    assert sla["output_viability_rate"] == 1.0
    assert sla["health_signal_coverage_ratio"] == 1.0
    assert sla["reliability_score"] == 1.0
    assert sla["quality_score"] == 0.5
    assert sla["sla_score"] == pytest.approx(85.0)
    # Latency edges, from the events' data.timestamp (ms):
    # PTFF = few processed segments 1767908952042 - status start_time 1767908945607 = 6435;
    # E2E = runner_send_first_processed_segment 1767908947688
    #       - gateway_send_first_ingest_segment 1767908947583 = 105.
    assert sla["avg_prompt_to_first_frame_ms"] == 6435.0
    assert sla["avg_e2e_latency_ms"] == 105.0
    # Average output fps: the mean of the 17 status samples' inference fps.
    fps = [
        json.loads(line)["data"]["inference_status"]["fps"]
        for line in SAMPLE.read_text().splitlines()
        if json.loads(line)["type"] == "ai_stream_status"
    ]
    assert len(fps) == 17
    assert sla["avg_output_fps"] == pytest.approx(sum(fps) / len(fps))

    [session] = rows(lake, "sessions")
    assert session["session_id"] == "stream-o5s73x-mk5zc8fy|db936fab"
    assert (session["orchestrator"], session["orchestrator_local_address"]) == (ONCHAIN, OPERATING)
    assert session["attribution_status"] == "resolved"
    # Startup = first processed segment 1767908947953 - request 1767908945298.
    assert session["startup_latency_ms"] == 2655
    [gpu] = rows(lake, "gpu_inventory")
    assert (gpu["orchestrator"], gpu["gpu_name"]) == (ONCHAIN, "NVIDIA GeForce RTX 5090")
    [pay] = rows(lake, "payments")
    # Six payments, 2+1+1+1+1+1 tickets; face values "2402400000000000 WEI" (x2: the
    # first two) and "2400000000000000 WEI" (x4), summed per ticket, exactly.
    assert pay["tickets"] == 7
    assert int(pay["face_value_wei"]) == 2 * 2402400000000000 + 2402400000000000 + 4 * 2400000000000000
    [disc] = rows(lake, "discovery_latency")
    assert (disc["orchestrator_address"], disc["latency_sum_ms"]) == (OPERATING, 77.0)
    # clientIP is personal data: dropped at ingest, nowhere in the lake.
    assert all("clientIP" not in r["data"] for r in rows(lake, "gateway_events"))


def go_livepeer_perf_scores(body, region):
    """go-livepeer's perf-score parsing (cmd/livepeer/starter, updatePerfScore):
    json.Unmarshal into map[string]map[string]struct{Score float64 `json:"score"`},
    then for each orchestrator the entry under the gateway's own -region only,
    the key parsed with ethcommon.HexToAddress (case-insensitive hex). A body
    that does not unmarshal leaves the scores unchanged (here: raises)."""
    parsed = json.loads(body)
    assert isinstance(parsed, dict)
    scores = {}
    for orch, by_region in parsed.items():
        assert isinstance(by_region, dict)
        entry = by_region.get(region)
        if entry is None:
            continue
        # encoding/json matches field names case-insensitively; a missing or
        # non-number score fails the whole unmarshal in Go.
        score = next((v for k, v in entry.items() if k.lower() == "score"), 0.0)
        assert isinstance(score, (int, float)) and not isinstance(score, bool), entry
        address = orch.lower().removeprefix("0x")
        assert len(address) == 40 and int(address, 16) >= 0, orch
        scores["0x" + address] = float(score)
    return scores


def test_perf_stats_feed_reads_like_go_livepeer(naap_bin, background, tmp_path):
    # The recorded session through the default gateway (""), plus a copy of it
    # through gateway gw-lax that never became playable.
    events = [json.loads(line) for line in SAMPLE.read_text().splitlines()]
    lax = []
    for e in events:
        if e["type"] not in ("stream_trace", "ai_stream_status", "stream_ingest_metrics"):
            continue
        if e["data"].get("type") == "gateway_receive_few_processed_segments":
            continue
        c = json.loads(json.dumps(e))
        c["id"] = "lax-" + e["id"]
        c["gateway"] = "gw-lax"
        c["data"]["stream_id"] = "stream-lax"
        lax.append(c)
    ndjson = tmp_path / "two-gateways.ndjson"
    ndjson.write_text("".join(json.dumps(e) + "\n" for e in sorted(events + lax, key=lambda e: int(e["timestamp"]))))
    lake = tmp_path / "naap-data"
    replay(naap_bin, ndjson, lake)

    http_port = free_port()
    background(
        [naap_bin, "serve", "--lake", str(lake), "--flight-addr", f"127.0.0.1:{free_port()}",
         "--http-addr", f"127.0.0.1:{http_port}", "--region-map", "=FRA", "--region-map", "gw-lax=LAX"],
        "serve",
    )
    url = f"http://127.0.0.1:{http_port}/orch-perf-stats?rule=sla&version=1"
    body = wait_until(lambda: urllib.request.urlopen(url, timeout=5).read(), 20, "the perf-stats feed")

    # FRA (gateway ""): the playable session alone, 85 -> 0.85.
    assert go_livepeer_perf_scores(body, "FRA") == {ONCHAIN: pytest.approx(0.85)}
    # LAX: the failed copy. startup success 0, no swap 1, viability 1 ->
    # reliability 0.6; signals 2 of 3 (status, first processed; no playable);
    # quality 0.5 -> 100 * 2/3 * (0.7*0.6 + 0.3*0.5) = 38.
    assert go_livepeer_perf_scores(body, "LAX") == {ONCHAIN: pytest.approx(0.38)}
    # GLOBAL (the default region, no gateway of its own): the network-wide
    # score over both sessions: success 1/2 -> reliability 0.4*0.5+0.2+0.4 = 0.8;
    # signals 5 of 6; 100 * 5/6 * (0.56 + 0.15) = 59.1667.
    assert go_livepeer_perf_scores(body, "GLOBAL") == {ONCHAIN: pytest.approx(0.591667, abs=1e-6)}
    # A region nobody configured: go-livepeer finds no entry and no score.
    assert go_livepeer_perf_scores(body, "SIN") == {}
    # The Explorer's client of the same shape needs all three numbers.
    for by_region in json.loads(body).values():
        for entry in by_region.values():
            assert all(isinstance(entry[k], float) for k in ("score", "success_rate", "round_trip_score"))
