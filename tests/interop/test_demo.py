"""`naap demo` as a user meets it: ADBC Flight SQL during the run, DuckDB after."""
import json
import re

import adbc_driver_flightsql.dbapi as flightsql
import duckdb
import polars as pl

from conftest import free_port, run, wait_until

ORCHESTRATORS = 18


def test_demo_serves_scores_and_the_lake_matches_its_report(naap_bin, background, tmp_path):
    network = json.loads(run([naap_bin, "emit", "--simulate", str(ORCHESTRATORS), "--describe"]).stdout)
    outage = {o["address"]: o["outage_secs_per_minute"] for o in network["orchestrators"]}
    assert len(outage) == ORCHESTRATORS

    flight_port, http_port = free_port(), free_port()
    lake = tmp_path / "naap-data"
    demo = background(
        [naap_bin, "demo", "--duration", "45s", "--orchestrators", str(ORCHESTRATORS), "--lake", str(lake),
         "--flight-addr", f"127.0.0.1:{flight_port}", "--http-addr", f"127.0.0.1:{http_port}",
         "--backfill", "5m", "--progress-every", "2s"],
        "demo",
    )

    def scores():
        with flightsql.connect(f"grpc://127.0.0.1:{flight_port}") as conn, conn.cursor() as cur:
            cur.execute("SELECT orchestrator, score FROM scores")
            rows = cur.fetchall()
        return rows if len(rows) == ORCHESTRATORS else None

    rows = wait_until(scores, 40, f"{ORCHESTRATORS} scored orchestrators over ADBC Flight SQL")
    by_orch = dict(rows)
    assert set(by_orch) == set(outage), "one row per simulated orchestrator"
    assert all(0.0 <= s <= 100.0 for s in by_orch.values()), by_orch
    # Longer simulated outages score strictly lower, class by class.
    classes = sorted(set(outage.values()))
    assert len(classes) >= 4
    for shorter, longer in zip(classes, classes[1:]):
        worst_shorter = min(by_orch[a] for a, o in outage.items() if o == shorter)
        best_longer = max(by_orch[a] for a, o in outage.items() if o == longer)
        assert worst_shorter > best_longer, (shorter, longer, by_orch)

    demo.p.wait(90)
    out = demo.output()
    assert demo.p.returncode == 0, out
    assert "[naap demo] events in" in out, "progress lines are printed"
    reported = {m.group(1): int(m.group(2)) for m in re.finditer(r"rows written to (\w+): (\d+)", out)}
    assert reported.get("telemetry_1m", 0) > 0, out
    for table, n in reported.items():
        pattern = str(lake / "lake" / table / "**" / "*.parquet")
        [(count,)] = duckdb.sql(f"SELECT count(*) FROM read_parquet('{pattern}', hive_partitioning=1)").fetchall()
        assert count == n, f"{table}: DuckDB counts {count}, the pipeline reported {n}"
    # Polars reads the same lake.
    frame = pl.scan_parquet(str(lake / "lake" / "scores" / "**" / "*.parquet"), hive_partitioning=True).collect()
    assert frame.height == reported["scores"]
    assert {"orchestrator", "rule", "rule_version", "window_start", "window_end", "score", "date", "hour"} <= set(frame.columns)
