"""Compaction swaps many small files for one while queries run: no query,
through the ADBC Flight SQL driver, sees a row missing or twice; each
table's newest Delta version names one file per closed hour, and once the
grace period has passed vacuum has deleted the replaced files from the
store (DuckDB reads the table through its delta extension)."""
import threading
import time

import adbc_driver_flightsql.dbapi as flightsql
import deltalake

from conftest import run
from lake_readers import duckdb_connection

QUERIES = {
    "telemetry_1m": "SELECT count(*), sum(heartbeats), sum(probes_ok) FROM telemetry_1m",
    "node_telemetry": "SELECT count(*), count(DISTINCT event_id) FROM node_telemetry",
    "scores": "SELECT count(*), sum(heartbeats_seen) FROM scores_history",
}


def parquet_files(lake, table, hour):
    """The files of the table's newest version in hour `hour` of 2026-01-08."""
    uris = deltalake.DeltaTable(str(lake / "lake" / table)).file_uris()
    return sorted(u for u in uris if f"/date=2026-01-08/hour={hour}/" in u)


def stored_files(lake, table, hour):
    return sorted((lake / "lake" / table / "date=2026-01-08" / f"hour={hour}").glob("*.parquet"))


def test_queries_see_every_row_once_while_a_compaction_commits(naap_bin, serve_lake, tmp_path):
    messages, lake = tmp_path / "in.naapmsg", tmp_path / "lake"
    run([naap_bin, "emit", "--simulate", "4", "--from", "2026-01-08T21:00:00Z", "--span", "2h",
         "--output", str(messages)])
    # Slow reading and frequent commits: many small files per hour.
    replayed = run([naap_bin, "replay", "--input", str(messages), "--lake", str(lake), "--rate", "2000",
                    "--commit-interval", "20ms", "--compact-every", "0s"])
    small = {t: len(parquet_files(lake, t, 21)) for t in QUERIES}
    assert all(n > 10 for n in small.values()), small
    flight_port, _ = serve_lake(lake)

    with flightsql.connect(f"grpc://127.0.0.1:{flight_port}") as conn:
        def ask():
            answers = {}
            with conn.cursor() as cur:
                for table, sql in QUERIES.items():
                    cur.execute(sql)
                    answers[table] = cur.fetchone()
            return answers

        expected = ask()
        # The replay's own count of the windows it wrote.
        assert f"telemetry_1m {expected['telemetry_1m'][0]}" in replayed.stdout, (expected, replayed.stdout)
        seen, errors, stop = [], [], threading.Event()

        def keep_asking():
            while not stop.is_set():
                try:
                    seen.append(ask())
                except Exception as e:  # a failure is a finding, kept for the assertion
                    errors.append(repr(e))

        asker = threading.Thread(target=keep_asking)
        asker.start()
        try:
            time.sleep(0.5)
            done = run([naap_bin, "compact", "--lake", str(lake), "--compaction-grace", "3s"])
            time.sleep(0.5)
        finally:
            stop.set()
            asker.join(60)

    assert "3 files written in place of" in done.stdout, done.stdout
    assert errors == [], errors[:3]
    assert len(seen) >= 10, len(seen)
    wrong = [s for s in seen if s != expected]
    assert wrong == [], (expected, wrong[:3])
    # Hour 21 is closed: one file per table; hour 22 is still open: untouched.
    assert {t: len(parquet_files(lake, t, 21)) for t in QUERIES} == {t: 1 for t in QUERIES}
    assert all(len(parquet_files(lake, t, 22)) > 1 for t in QUERIES)
    # Vacuum deleted the replaced files once the grace period passed.
    assert {t: len(stored_files(lake, t, 21)) for t in QUERIES} == {t: 1 for t in QUERIES}
    count = duckdb_connection().sql(
        f"SELECT count(*), sum(heartbeats), sum(probes_ok) FROM delta_scan('{lake}/lake/telemetry_1m')"
    ).fetchall()[0]
    assert tuple(count) == tuple(expected["telemetry_1m"])
