"""The lake is Delta Lake tables: three readers nobody here wrote read
every table with the same counts and sums, equal to what the pipeline
wrote; while late data and compaction commit, every version they read holds
each row once; and an older version reads as it was."""
import json
import pathlib
import threading
import time

import pyarrow.compute as pc

from conftest import run
from lake_readers import (READERS, arrow_table, duckdb_connection, polars_frame, summary, table_path,
                          tables, versions)



def summed_column(lake, table):
    """The first integer or float column of a table that holds a value:
    every reader sums it (an all-null column sums to null or 0 by reader)."""
    import pyarrow as pa
    rows = arrow_table(lake, table)
    for field in rows.schema:
        if pa.types.is_integer(field.type) or pa.types.is_floating(field.type):
            if pc.count(rows.column(field.name)).as_py() > 0:
                return field.name
    return None


SAMPLE = pathlib.Path(__file__).resolve().parents[2] / "data" / "livepeer"


def records(lake):
    folder = pathlib.Path(lake) / "_naap" / "commits"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def check_all_readers(lake):
    con = duckdb_connection()
    rows_written = records(lake)[-1]["totals"]["rows_written"]
    names = tables(lake)
    for table in names:
        column = summed_column(lake, table)
        got = {r: summary(lake, table, r, column, con=con) for r in READERS}
        assert len(set(got.values())) == 1, (table, got)
        count = got["deltalake"][0]
        assert count == rows_written.get(table, count), (table, count, rows_written.get(table))
        assert count > 0, table
    return names


def test_every_table_reads_the_same_through_three_readers(naap_bin, tmp_path):
    messages, lake = tmp_path / "in.naapmsg", tmp_path / "lake"
    run([naap_bin, "emit", "--simulate", "4", "--from", "2026-01-08T21:00:00Z", "--span", "2h",
         "--output", str(messages)])
    run([naap_bin, "replay", "--input", str(messages), "--lake", str(lake), "--commit-interval", "50ms"])
    names = check_all_readers(lake)
    assert {"node_telemetry", "telemetry_1m", "scores"} <= set(names), names
    # Every event replayed is one row, once.
    raw = arrow_table(lake, "node_telemetry")
    assert pc.count_distinct(raw.column("event_id")).as_py() == raw.num_rows


def test_gateway_tables_read_the_same_through_three_readers(naap_bin, tmp_path):
    lake = tmp_path / "lake"
    sample = SAMPLE / "gateway-events-sample.ndjson"
    run([naap_bin, "replay", "--input", str(sample), "--format", "livepeer-json", "--lake", str(lake)])
    names = check_all_readers(lake)
    assert {"gateway_events", "sla_hourly"} <= set(names), names


def test_job_tables_read_the_same_through_three_readers(naap_bin, tmp_path):
    """The 2026 families (AI batch, LLM, BYOC): one typed table per kind
    of work, wei decimals and runner model lists included."""
    lake = tmp_path / "lake"
    sample = SAMPLE / "ai-batch-byoc-sample.ndjson"
    run([naap_bin, "replay", "--input", str(sample), "--format", "livepeer-json", "--lake", str(lake)])
    names = check_all_readers(lake)
    jobs = {"ai_batch_events": 12, "llm_events": 6, "byoc_job_events": 23, "byoc_auth_events": 4,
            "byoc_payment_events": 9, "worker_events": 6}
    assert set(jobs) <= set(names), names
    for table, rows in jobs.items():
        assert arrow_table(lake, table).num_rows == rows, table
    con = duckdb_connection()
    path = table_path(lake, "byoc_payment_events")
    balance = con.execute(f"SELECT max(balance_wei) FROM delta_scan('{path}')").fetchone()[0]
    assert str(balance) == "250000.000", balance
    workers = polars_frame(lake, "worker_events")
    assert ["Qwen/Qwen2.5-7B-Instruct"] in workers["models"].to_list()
    # The sealed hour: NaaP's six jobs, and the LLM figures read faithfully
    # (TTFT over streams, tokens/s over requests with tokens).
    requests = arrow_table(lake, "ai_requests").to_pylist()
    assert sorted(r["request_id"] for r in requests) == sorted(
        ["a3f91c07", "5be20d94", "c41d7e2b", "0e7b3a58", "7d25f6e1", "e93a04bc"])
    llm = table_path(lake, "llm_requests")
    ttft, tps, broken = con.execute(
        f"SELECT avg(ttft_ms), avg(tokens_per_second), count(*) FILTER (WHERE outcome = 'broken') "
        f"FROM delta_scan('{llm}')").fetchone()
    assert (ttft, round(tps, 9), broken) == (374.5, round(71.60937953776829, 9), 1)
    # BYOC: every job once, across its attempts, with why it failed. NaaP
    # sees three "jobs" (completed attempts), two of them successes.
    jobs = sorted((r["started_at"], r["attempts"], r["outcome"]) for r in arrow_table(lake, "byoc_jobs").to_pylist())
    assert [(attempts, outcome) for _, attempts, outcome in jobs] == [
        (1, "ok"), (2, "ok"), (1, "transport_error"), (1, "insufficient_balance"), (1, "auth_failed"),
        (0, "no_orchestrators")], jobs
    attempts = arrow_table(lake, "byoc_attempts").to_pylist()
    assert sorted(a["outcome"] for a in attempts) == sorted(
        ["ok", "no_capacity", "ok", "transport_error", "insufficient_balance", "auth_failed"])


def late_input(naap_bin, tmp_path):
    """Two hours of 4 orchestrators, then the first 20 minutes of 6: the 4
    repeat (dropped as duplicates), the 2 new ones arrive late."""
    on_time, late = tmp_path / "on_time.naapmsg", tmp_path / "late.naapmsg"
    run([naap_bin, "emit", "--simulate", "4", "--from", "2026-01-08T21:00:00Z", "--span", "2h",
         "--output", str(on_time)])
    run([naap_bin, "emit", "--simulate", "6", "--from", "2026-01-08T21:00:00Z", "--span", "20m",
         "--output", str(late)])
    both = tmp_path / "with_late.naapmsg"
    magic = on_time.read_bytes()[:8]
    assert late.read_bytes()[:8] == magic
    both.write_bytes(on_time.read_bytes() + late.read_bytes()[8:])
    return both


def test_readers_see_each_row_once_at_every_version_while_late_data_and_compaction_commit(
        naap_bin, background, tmp_path):
    lake = tmp_path / "lake"
    messages = late_input(naap_bin, tmp_path)
    pipeline = background([naap_bin, "replay", "--input", str(messages), "--lake", str(lake), "--rate", "400",
                           "--commit-interval", "100ms", "--compact-every", "1s", "--compaction-grace", "120s"],
                          "replay")
    table = "telemetry_1m"
    seen = {}  # version -> (rows, sum of heartbeats)
    problems = []
    con = duckdb_connection()

    def check(version):
        frame = polars_frame(lake, table, version)
        keys = frame.select(["orchestrator", "node_id", "region", "window_start"])
        if keys.n_unique() != frame.height:
            problems.append(f"v{version}: a window twice ({frame.height} rows, {keys.n_unique()} windows)")
        answer = (frame.height, int(frame["heartbeats"].sum()))
        t = arrow_table(lake, table, version)
        if (t.num_rows, pc.sum(t.column("heartbeats")).as_py()) != answer:
            problems.append(f"v{version}: deltalake and polars differ")
        return answer

    while pipeline.p.poll() is None or len(seen) < 2:
        if (lake / "lake" / table / "_delta_log").is_dir():
            newest = versions(lake, table)
            for v in range(max(seen, default=0), newest + 1):
                if v not in seen and v > 0:
                    seen[v] = check(v)
            count, windows = con.execute(
                f"SELECT count(*), count(DISTINCT (orchestrator, node_id, region, window_start)) "
                f"FROM delta_scan('{lake}/lake/{table}')").fetchone()
            if count != windows:
                problems.append(f"DuckDB: {count} rows, {windows} windows")
        if pipeline.p.poll() is not None and len(seen) >= 2:
            break
        time.sleep(0.05)
    assert pipeline.p.wait(120) == 0, pipeline.output()
    newest = versions(lake, table)
    for v in range(1, newest + 1):
        seen.setdefault(v, check(v))
    assert problems == [], problems[:5]
    # No row missing: heartbeats only grow from version to version (late
    # windows add theirs, compaction keeps them), up to every event's.
    heartbeats = [seen[v][1] for v in sorted(seen)]
    assert heartbeats == sorted(heartbeats), heartbeats
    # Counts add up: what the commit records call rows written is what the
    # tables hold, late rewrites included.
    written = records(lake)[-1]["totals"]["rows_written"]
    for name in tables(lake):
        assert written.get(name) == arrow_table(lake, name).num_rows, (name, written.get(name))
    # Both kinds of replacement happened, each as one Delta version.
    changes = [c for r in records(lake) for c in r["tables"].values()]
    removes = [x for c in changes for x in c["removes"]]
    assert any(x["data_change"] for x in removes), "late windows replaced files"
    assert any(not x["data_change"] for x in removes), "compaction replaced files"
    # An older version reads as it was, through both readers that time-travel.
    for v in sorted(seen)[:: max(1, len(seen) // 10)]:
        again = polars_frame(lake, table, v)
        assert (again.height, int(again["heartbeats"].sum())) == seen[v], v
        assert arrow_table(lake, table, v).num_rows == seen[v][0], v
    final = summary(lake, table, "duckdb", "heartbeats", con=con)
    assert final == (seen[newest][0], float(seen[newest][1])), (final, seen[newest])
    # The log is checkpointed as it grows.
    assert newest > 10 and (lake / "lake" / table / "_delta_log" / "_last_checkpoint").exists(), newest


def test_flight_sql_reads_older_versions_by_name(naap_bin, serve_lake, tmp_path):
    import adbc_driver_flightsql.dbapi as flightsql
    messages, lake = tmp_path / "in.naapmsg", tmp_path / "lake"
    run([naap_bin, "emit", "--simulate", "4", "--from", "2026-01-08T21:00:00Z", "--span", "30m",
         "--output", str(messages)])
    run([naap_bin, "replay", "--input", str(messages), "--lake", str(lake), "--rate", "3000",
         "--commit-interval", "50ms"])
    newest = versions(lake, "scores")
    assert newest >= 3, newest
    flight_port, _ = serve_lake(lake)
    with flightsql.connect(f"grpc://127.0.0.1:{flight_port}") as conn, conn.cursor() as cur:
        for v in (1, newest // 2, newest):
            cur.execute(f'SELECT count(*), sum(score) FROM "scores_history@v{v}"')
            count, total = cur.fetchone()
            want = arrow_table(lake, "scores", v)
            assert (count, round(total, 6)) == (want.num_rows, round(pc.sum(want.column("score")).as_py(), 6)), v
            # Every served name time-travels: the `scores` view at version v
            # is the newest window per (orchestrator, rule, version) of v.
            cur.execute(f'SELECT count(*), max(window_start) FROM "scores@v{v}"')
            count, _ = cur.fetchone()
            keys = {tuple(r.values()) for r in want.select(["orchestrator", "rule", "rule_version"]).to_pylist()}
            assert count == len(keys), (v, count, len(keys))
        cur.execute("SELECT count(*) FROM scores_history")
        assert cur.fetchone()[0] == arrow_table(lake, "scores").num_rows
        # The telemetry rollups too, down to the table they read.
        telemetry = versions(lake, "telemetry_1m")
        for v in (1, telemetry):
            want = pc.sum(arrow_table(lake, "telemetry_1m", v).column("heartbeats")).as_py()
            for rollup in ("telemetry_5m", "telemetry_1h", "telemetry_1d"):
                cur.execute(f'SELECT sum(heartbeats) FROM "{rollup}@v{v}"')
                assert cur.fetchone()[0] == want, (rollup, v)
        try:
            cur.execute(f'SELECT count(*) FROM "scores_history@v{newest + 100}"')
            cur.fetchall()
            raise AssertionError("a version the table does not have was read")
        except flightsql.Error as e:
            assert "no such version" in str(e), e


def test_compact_rewrites_small_files_and_vacuum_keeps_every_row(naap_bin, tmp_path):
    compacted_and_vacuumed(naap_bin, tmp_path)


def compacted_and_vacuumed(naap_bin, tmp_path):
    """A lake replayed in small commits, compacted and vacuumed, checked
    through every reader to hold the same rows before and after."""
    messages, lake = tmp_path / "in.naapmsg", tmp_path / "lake"
    run([naap_bin, "emit", "--simulate", "4", "--from", "2026-01-08T21:00:00Z", "--span", "2h",
         "--output", str(messages)])
    run([naap_bin, "replay", "--input", str(messages), "--lake", str(lake), "--rate", "2000",
         "--commit-interval", "20ms", "--compact-every", "0s"])
    # A crashed commit's file: in the table's folder, in no Delta version.
    stray = lake / "lake" / "telemetry_1m" / "date=2026-01-08" / "hour=21" / "p00000@stray@0-x-0.parquet"
    stray.write_bytes(b"not referenced by any version")
    con = duckdb_connection()
    before = {t: {r: summary(lake, t, r, summed_column(lake, t), con=con) for r in READERS} for t in tables(lake)}
    files_before = {t: len(arrow_table_files(lake, t)) for t in before}
    stored_before = parquet_count(lake)
    done = run([naap_bin, "compact", "--lake", str(lake), "--compaction-grace", "1s"])
    assert "files written in place of" in done.stdout, done.stdout
    after = {t: {r: summary(lake, t, r, summed_column(lake, t), con=con) for r in READERS} for t in tables(lake)}
    assert after == before
    files_after = {t: len(arrow_table_files(lake, t)) for t in before}
    assert all(files_after[t] <= files_before[t] for t in before), (files_before, files_after)
    assert files_after["telemetry_1m"] < files_before["telemetry_1m"], (files_before, files_after)
    # Vacuum deleted the replaced files and the stray one.
    assert not stray.exists()
    assert parquet_count(lake) < stored_before
    assert parquet_count(lake) == sum(files_after.values())
    return lake


def test_a_vacuumed_version_is_a_clear_refusal(naap_bin, serve_lake, tmp_path):
    import adbc_driver_flightsql.dbapi as flightsql
    lake = compacted_and_vacuumed(naap_bin, tmp_path)
    flight_port, _ = serve_lake(lake)
    with flightsql.connect(f"grpc://127.0.0.1:{flight_port}") as conn, conn.cursor() as cur:
        try:
            cur.execute('SELECT sum(heartbeats) FROM "telemetry_1m@v1"')
            cur.fetchall()
            raise AssertionError("a vacuumed version was read")
        except flightsql.Error as e:
            message = str(e)
        assert "vacuum" in message and "compaction grace" in message, message
        assert str(tmp_path) not in message and "INTERNAL" not in message.upper(), message
        cur.execute("SELECT sum(heartbeats) FROM telemetry_1m")
        assert cur.fetchone()[0] > 0


def arrow_table_files(lake, table):
    import deltalake
    return deltalake.DeltaTable(str(pathlib.Path(lake) / "lake" / table)).file_uris()


def parquet_count(lake):
    return sum(1 for _ in (pathlib.Path(lake) / "lake").rglob("*.parquet") if "_delta_log" not in str(_))
