"""The read-only Flight SQL server under abuse, through the ADBC driver:
writes and file access are refused, a query past its time or memory limit is
stopped with a clear error, one query too many is turned away, and the
server keeps answering the others."""
import os
import threading
import time

import adbc_driver_flightsql.dbapi as flightsql
import pytest



@pytest.fixture
def server(serve_simulated_lake):
    return serve_simulated_lake("--query-timeout", "3s", "--query-memory-mb", "16", "--max-concurrent-queries", "1",
                                "--max-queued-queries", "0")


def query(uri, sql):
    with flightsql.connect(uri) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def refusal(uri, sql):
    with pytest.raises(Exception) as caught:
        query(uri, sql)
    return str(caught.value)


def still_serving(uri):
    # 4 orchestrators, one latest score each.
    assert query(uri, "SELECT count(*) FROM scores") == [(4,)]


def test_writes_ddl_and_file_access_are_refused(server, tmp_path):
    target = tmp_path / "copied.parquet"
    for sql, reason in [
        ("CREATE TABLE t (x INT)", "DDL not supported"),
        ("DROP TABLE scores_history", "DDL not supported"),
        ("CREATE EXTERNAL TABLE leak STORED AS CSV LOCATION '/etc/passwd'", "DDL not supported"),
        ("INSERT INTO scores_history SELECT * FROM scores_history", "DML not supported"),
        (f"COPY (SELECT 1 AS x) TO '{target}' STORED AS PARQUET", "DML not supported"),
        ("SET datafusion.execution.batch_size = 1", "Statement not supported"),
        ("SELECT * FROM '/etc/passwd'", "not found"),
    ]:
        message = refusal(server, sql)
        assert "query refused" in message and reason in message, (sql, message)
    assert not os.path.exists(target)
    still_serving(server)


def test_a_query_past_the_time_limit_is_stopped(server):
    started = time.monotonic()
    message = refusal(server, "SELECT sum(value) FROM generate_series(1, 100000000000)")
    elapsed = time.monotonic() - started
    assert "time limit of 3s" in message, message
    assert elapsed < 20, elapsed
    still_serving(server)


def test_a_query_past_the_memory_limit_is_stopped(server):
    # Sorting 20 M integers needs ~160 MB; the pool holds 16 MiB and spilling is off.
    message = refusal(server, "SELECT value FROM generate_series(1, 20000000) ORDER BY value DESC")
    assert "memory limit per query" in message, message
    still_serving(server)


def test_one_query_too_many_is_turned_away(server):
    slow = {}

    def run_slow():
        try:
            query(server, "SELECT sum(value) FROM generate_series(1, 100000000000)")
        except Exception as e:  # stopped by the time limit
            slow["error"] = str(e)

    thread = threading.Thread(target=run_slow)
    thread.start()
    time.sleep(1.0)
    message = refusal(server, "SELECT 1")
    assert "1 queries are running" in message and "retry shortly" in message, message
    thread.join(30)
    assert "time limit" in slow.get("error", ""), slow
    still_serving(server)
