"""Hardening, round 2 (issue 26), against ingest: no single event stops a
pipeline. Bad events, replayed from hand-made files and sent live into a
running demo's Kafka, are quarantined alone with their reason and offset;
the good events around them reach the lake; and a pipeline that cannot
commit says so at once in its log, /metrics and /healthz."""
import json
import struct
import time
from pathlib import Path

import pytest

from attack_tools import assert_committing, assert_fast_paths, assert_rss_settles, http_get, newest_commit, rss_mb
from hardened_demo import start_demo
from lake_readers import duckdb_connection
from conftest import run, wait_until

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = [ROOT / "data" / "livepeer" / "gateway-events-sample.ndjson",
            ROOT / "data" / "livepeer" / "ai-batch-byoc-sample.ndjson"]


def rows(lake, table, where=""):
    rel = duckdb_connection().sql(f"SELECT * FROM delta_scan('{lake / 'lake' / table}') {where}")
    return [dict(zip(rel.columns, r)) for r in rel.fetchall()]


def bad_events():
    """(id, expected reason, event) of events no lake column can hold."""
    def trace(i, ts, data_ts=1767908945298, **extra):
        data = {"type": "gateway_receive_stream_request", "stream_id": f"s-{i}", "request_id": f"r-{i}",
                "timestamp": data_ts, "orchestrator_info": {"address": "", "url": ""}, **extra}
        return {"id": f"bad-{i}", "type": "stream_trace", "timestamp": ts, "gateway": "g", "data": data}

    def discovery(i, latency):
        return {"id": f"bad-{i}", "type": "discovery_results", "timestamp": "1767908945559", "gateway": "g",
                "data": [{"address": "0x52cf2968b3dc6016778742d3539449a6597d5954", "latency_ms": latency,
                          "url": "https://o.example:8935"}]}

    status = {"id": "bad-6", "type": "ai_stream_status", "timestamp": "1767908946000", "gateway": "g",
              "data": {"stream_id": "s-6", "request_id": "r-6", "pipeline": "p", "state": "ONLINE",
                       "start_time": 9223372036854775807, "timestamp": 1767908946000,
                       "inference_status": {"fps": 10.0}, "input_status": {"fps": 10.0},
                       "orchestrator_info": {"address": "", "url": ""}}}
    completed = {"id": "bad-7", "type": "job_gateway", "timestamp": "1776254700000", "gateway": "g",
                 "data": {"type": "job_gateway_completed", "request_id": "j", "capability": "c",
                          "success": True, "duration_ms": 5, "completed_at": 1e300, "timestamp": 1776254700000,
                          "orchestrator_info": {"address": "", "url": ""}}}
    return [
        ("bad-1", "time_out_of_range", trace(1, "9223372036854775807")),
        ("bad-2", "time_out_of_range", trace(2, "-9223372036854775808")),
        ("bad-3", "time_out_of_range", trace(3, "1767908945298", data_ts=9223372036854775807)),
        ("bad-4", "not_finite", discovery(4, "NaN")),
        ("bad-5", "not_finite", discovery(5, "inf")),
        ("bad-8", "out_of_range", discovery(8, "-5")),
        ("bad-6", "time_out_of_range", status),
        ("bad-7", "wrong_type", completed),
    ]


def test_bad_gateway_events_are_quarantined_alone(naap_bin, tmp_path):
    """Events with times past what the lake holds or measurements that are
    not numbers, among the 125 recorded ones: the replay commits the 125 and
    quarantines each bad one with its reason."""
    good = [line for path in FIXTURES for line in path.read_text().splitlines() if line.strip()]
    assert len(good) == 125
    bad = bad_events()
    lines = list(good)
    for i, (_, _, event) in enumerate(bad):
        lines.insert(10 + 14 * i, json.dumps(event))
    ndjson, lake = tmp_path / "events.ndjson", tmp_path / "naap-data"
    ndjson.write_text("\n".join(lines) + "\n")
    out = run([naap_bin, "replay", "--input", str(ndjson), "--format", "livepeer-json", "--lake", str(lake)]).stdout
    assert f"quarantined {len(bad)}" in out, out
    quarantined = {json.loads(r["payload"])["id"]: r for r in rows(lake, "quarantine")}
    for event_id, reason, _ in bad:
        assert event_id in quarantined, (event_id, sorted(quarantined))
        assert quarantined[event_id]["reason"] == reason, (event_id, quarantined[event_id]["detail"])
    offsets = sorted(r["source_offset"] for r in quarantined.values())
    assert offsets == sorted(lines.index(json.dumps(e)) for _, _, e in bad), offsets
    [(count,)] = duckdb_connection().sql(
        f"SELECT count(*) FROM delta_scan('{lake / 'lake' / 'gateway_events'}')").fetchall()
    assert count == 125, count


def read_messages(path):
    """(meta, value) of each record of a naap message file."""
    data, out, pos = path.read_bytes(), [], 8
    assert data[:8] == b"NAAPMSG1"
    while pos < len(data):
        (n,) = struct.unpack_from("<I", data, pos)
        meta = json.loads(data[pos + 4:pos + 4 + n])
        pos += 4 + n
        (m,) = struct.unpack_from("<I", data, pos)
        out.append((meta, data[pos + 4:pos + 4 + m]))
        pos += 4 + m
    return out


def write_messages(path, records):
    with open(path, "wb") as f:
        f.write(b"NAAPMSG1")
        for meta, value in records:
            text = json.dumps(meta).encode()
            f.write(struct.pack("<I", len(text)) + text + struct.pack("<I", len(value)) + value)


def test_bad_telemetry_rows_are_left_out_and_the_rest_kept(naap_bin, tmp_path):
    """A telemetry message whose one row is NaN and another dated 2263: the
    two are refused (the message quarantined with why), its other rows and
    every other message reach the lake."""
    import pyarrow as pa
    source, forged, lake = tmp_path / "in.naapmsg", tmp_path / "forged.naapmsg", tmp_path / "naap-data"
    run([naap_bin, "emit", "--simulate", "2", "--from", "2026-01-08T21:00:00Z", "--span", "2m",
         "--output", str(source)])
    records = read_messages(source)
    telemetry = [i for i, (meta, _) in enumerate(records)
                 if dict(meta["headers"]).get("naap-schema") == "node_telemetry"]
    which = max(telemetry, key=lambda i: pa.ipc.open_stream(records[i][1]).read_all().num_rows)
    meta, value = records[which]
    batch = pa.ipc.open_stream(value).read_all().combine_chunks().to_batches()[0]
    assert batch.num_rows >= 3
    latency = batch.column(batch.schema.get_field_index("latency_ms")).to_pylist()
    latency[0] = float("nan")
    times = batch.column(batch.schema.get_field_index("event_time"))
    times = pa.array([v.value if i != 1 else 9_300_000_000_000 for i, v in enumerate(times)], times.type)
    columns = [pa.array(latency, pa.float64()) if f.name == "latency_ms" else
               times if f.name == "event_time" else batch.column(i) for i, f in enumerate(batch.schema)]
    forged_batch = pa.record_batch(columns, schema=batch.schema)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as w:
        w.write_batch(forged_batch)
    records[which] = (meta, sink.getvalue().to_pybytes())
    write_messages(forged, records)
    out = run([naap_bin, "replay", "--input", str(forged), "--lake", str(lake)]).stdout
    assert "quarantined 1" in out, out
    [q] = rows(lake, "quarantine")
    assert q["source_offset"] == which and q["reason"] == "not_finite", q
    assert q["detail"].startswith(f"2 of {batch.num_rows} events refused"), q["detail"]
    total = sum(pa.ipc.open_stream(v).read_all().num_rows for i, (_, v) in enumerate(records) if i in telemetry)
    [(count,)] = duckdb_connection().sql(
        f"SELECT count(*) FROM delta_scan('{lake / 'lake' / 'node_telemetry'}')").fetchall()
    assert count == total - 2, (count, total)
    kept = rows(lake, "node_telemetry", "WHERE isnan(latency_ms) OR year(event_time) > 2100")
    assert not kept, kept[:2]


@pytest.fixture(scope="module")
def demo(naap_bin, tmp_path_factory):
    yield from start_demo(naap_bin, tmp_path_factory.mktemp("attacks-ingest"))


def quarantine_reasons(demo):
    table = demo.lake / "lake" / "quarantine"
    if not (table / "_delta_log").is_dir():
        return {}
    return dict(duckdb_connection().sql(
        f"SELECT reason, count(*) FROM delta_scan('{table}') GROUP BY reason").fetchall())


def test_events_from_past_2262_or_the_future_do_not_stop_a_live_pipeline(naap_bin, demo):
    """Telemetry dated 2263 (past nanosecond timestamps) and two hours ahead,
    sent live into the demo's Kafka: quarantined; the pipeline keeps
    committing the live orchestrators' events and stays healthy."""
    assert demo.brokers, demo.log_tail()
    before, rss = newest_commit(demo), rss_mb(demo.p.pid)
    ahead = time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(time.time() + 3 * 3600))
    for start in ["2263-01-01T00:00:00Z", ahead]:
        run([naap_bin, "emit", "--brokers", demo.brokers, "--simulate", "1", "--seed", "7",
             "--from", start, "--span", "30s"])
    reasons = wait_until(lambda: (r := quarantine_reasons(demo)).get("time_out_of_range")
                         and r.get("time_in_future") and r, 60, "both kinds of bad telemetry in quarantine")
    assert reasons, reasons
    assert_committing(demo, newest_commit(demo))
    status, body = http_get(demo, "/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok", body
    assert "the pipeline stopped" not in demo.log(), demo.log_tail()
    assert_committing(demo, before)
    assert_fast_paths(demo)
    assert_rss_settles(demo.p.pid, rss)


def test_a_pipeline_that_cannot_commit_says_so_at_once(demo):
    """With its commit records unwritable, the demo's pipeline says so in its
    log, /metrics and /healthz within seconds, the answers' data age grows,
    and it recovers on its own once they are writable again."""
    commits = demo.lake / "_naap" / "commits"
    moved = commits.with_name("commits.moved")
    commits.rename(moved)
    commits.write_text("not a directory: every commit record write fails")
    try:
        def degraded():
            status, body = http_get(demo, "/healthz")
            health = json.loads(body)
            return health["status"] == "degraded" and health
        health = wait_until(degraded, 15, "/healthz to say the pipeline is not committing")
        assert health["pipeline"]["state"] == "retrying" and "commits failing since" in health["problem"], health
        _, metrics = http_get(demo, "/metrics")
        assert b"naap_pipeline_progressing 0" in metrics, metrics[-1500:]
        assert "commit failed; retrying" in demo.log(), demo.log_tail()
        assert_fast_paths(demo)
    finally:
        commits.unlink()
        moved.rename(commits)
    wait_until(lambda: json.loads(http_get(demo, "/healthz")[1])["status"] == "ok", 30,
               "the pipeline committing again")
    assert_committing(demo, newest_commit(demo))
