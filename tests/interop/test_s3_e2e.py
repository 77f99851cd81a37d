"""emitter -> Tansu -> pipeline -> moto S3 -> server -> pyarrow.flight, end to end."""
import json
import os
import urllib.request
import uuid

import adbc_driver_flightsql.dbapi as flightsql
import deltalake
import pyarrow.flight as flight

from conftest import free_port, run, wait_until

T0 = 1_767_906_000_000  # 2026-01-08T21:00:00Z
ORCHESTRATORS = 8


def test_kafka_to_s3_to_flight(naap_bin, kafka, s3, background, tmp_path):
    topic = f"e2e-{uuid.uuid4().hex[:8]}"
    lake = f"s3://{s3['bucket']}/{topic}"
    store = ["--s3-endpoint", s3["endpoint"], "--s3-allow-http"]
    out = run([naap_bin, "emit", "--brokers", kafka, "--topic", topic, "--partitions", "4",
               "--simulate", str(ORCHESTRATORS), "--from", str(T0), "--span", "6m"])
    assert f"emitted" in out.stdout

    out = run([naap_bin, "pipeline", "--brokers", kafka, "--topic", topic, "--lake", lake, *store,
               "--stop-after-idle", "4s", "--commit-interval", "500ms"], timeout=180)
    # 6 minutes of events, 30 s lateness: the first 5 minutes close.
    assert "windows committed" in out.stdout, out.stdout

    port, http_port = free_port(), free_port()
    server = background([naap_bin, "serve", "--lake", lake, *store, "--flight-addr", f"127.0.0.1:{port}",
                         "--http-addr", f"127.0.0.1:{http_port}"], "serve")
    client = flight.connect(f"grpc://127.0.0.1:{port}")
    table = wait_until(lambda: client.do_get(flight.Ticket(b"scores")).read_all(), 30, "the Flight server")
    assert table.num_rows == ORCHESTRATORS, server.output()
    assert set(table.column("rule").to_pylist()) == {"uptime"}
    # The latest closed window is the fifth minute for everyone.
    starts = {t.value // 1_000_000 if hasattr(t, "value") else int(t.timestamp() * 1000)
              for t in table.column("window_start").to_pylist()}
    assert starts == {T0 + 4 * 60_000}, starts
    assert all(0 <= s <= 100 for s in table.column("score").to_pylist())

    with flightsql.connect(f"grpc://127.0.0.1:{port}") as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) AS n, count(DISTINCT orchestrator) AS o FROM telemetry_1m")
        # Per window: one row per (orchestrator, node) and per (orchestrator, prober):
        # 7 one-node orchestrators x 3 + the two-node one (index 3) x 4 = 25.
        assert cur.fetchone() == (25 * 5, ORCHESTRATORS)
        cur.execute("SELECT count(DISTINCT window_start), count(DISTINCT orchestrator) FROM scores_history")
        assert cur.fetchone() == (5, ORCHESTRATORS)
        # Percentiles over any span merge the stored sketches.
        cur.execute("SELECT ddsketch_count(ddsketch_merge(latency_sketch)), sum(latency_count),"
                    " ddsketch_quantile(ddsketch_merge(latency_sketch), 0.5) FROM telemetry_1m")
        merged, counted, p50 = cur.fetchone()
        assert merged == counted > 0 and 10 < p50 < 200, (merged, counted, p50)

    # The lake on S3 is Delta tables any Delta reader opens as they are.
    options = {"AWS_ENDPOINT_URL": s3["endpoint"], "AWS_ALLOW_HTTP": "true",
               "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
               "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
               "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"]}
    minutes = deltalake.DeltaTable(f"{lake}/lake/telemetry_1m", storage_options=options)
    assert minutes.to_pyarrow_table().num_rows == 25 * 5
    assert minutes.version() >= 1

    health = urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=5)
    assert health.status == 200 and json.loads(health.read())["status"] == "ok"
