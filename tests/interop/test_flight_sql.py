"""Flight SQL as a data team's tools see it, through the ADBC driver:
catalog metadata, server info, a prepared statement with bound parameters,
and the telemetry rollup views against DuckDB's reading of the same lake."""
import json

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa

from lake_readers import duckdb_connection
from conftest import run


def test_tables_schemas_and_server_info_are_listed(serve_simulated_lake):
    uri = serve_simulated_lake()
    with flightsql.connect(uri) as conn:
        [catalog] = conn.adbc_get_objects(depth="all").read_all().to_pylist()
        assert catalog["catalog_name"] == "naap"
        [schema] = catalog["catalog_db_schemas"]
        assert schema["db_schema_name"] == "lake"
        tables = {t["table_name"]: t for t in schema["db_schema_tables"]}
        assert {"node_telemetry", "telemetry_1m", "scores_history", "scores"} <= set(tables), sorted(tables)
        assert tables["scores"]["table_type"] == "VIEW"
        assert tables["telemetry_1m"]["table_type"] == "TABLE"
        columns = {c["column_name"] for c in tables["scores"]["table_columns"]}
        assert {"orchestrator", "rule", "rule_version", "window_start", "score"} <= columns, columns

        sketch = conn.adbc_get_table_schema("telemetry_1m", catalog_filter="naap", db_schema_filter="lake")
        assert sketch.field("latency_sketch").type == pa.binary()
        info = conn.adbc_get_info()
        assert info["vendor_name"] == "naap", info
        # Fully qualified names resolve too.
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM naap.lake.scores")
            assert cur.fetchall() == [(4,)]


def test_a_prepared_statement_runs_with_bound_parameters(naap_bin, serve_simulated_lake):
    uri = serve_simulated_lake()
    network = json.loads(run([naap_bin, "emit", "--simulate", "4", "--describe"]).stdout)["orchestrators"]
    sql = ("SELECT orchestrator, count(*) AS rows FROM telemetry_1m "
           "WHERE orchestrator = $1 AND window_start >= $2 GROUP BY orchestrator")
    with flightsql.connect(uri) as conn, conn.cursor() as cur:
        for o in network[:2]:
            cur.execute(f"SELECT count(*) FROM telemetry_1m WHERE orchestrator = '{o['address']}'")
            [(literal,)] = cur.fetchall()
            assert literal >= 3, literal  # 3 closed minutes at least
            cur.execute(sql, parameters=(o["address"], pa.scalar(0, pa.timestamp("ms", tz="UTC"))))
            assert cur.fetchall() == [(o["address"], literal)], o
        cur.execute("SELECT count(*) FROM scores WHERE score >= $1", parameters=(101.0,))
        assert cur.fetchall() == [(0,)]


def test_rollup_views_add_up_to_what_duckdb_reads_from_the_minutes(serve_simulated_lake, tmp_path):
    uri = serve_simulated_lake()
    minutes = tmp_path / "lake" / "lake" / "telemetry_1m"
    [want] = duckdb_connection().sql(
        f"SELECT count(DISTINCT orchestrator), sum(events), sum(heartbeats), sum(latency_count), "
        f"min(latency_min_ms), max(latency_max_ms) FROM delta_scan('{minutes}')"
    ).fetchall()
    with flightsql.connect(uri) as conn, conn.cursor() as cur:
        [catalog] = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
        tables = {t["table_name"]: t["table_type"] for t in catalog["catalog_db_schemas"][0]["db_schema_tables"]}
        for view in ("telemetry_5m", "telemetry_1h", "telemetry_1d"):
            assert tables.get(view) == "VIEW", tables
            cur.execute(
                f"SELECT count(DISTINCT orchestrator), sum(events), sum(heartbeats), sum(latency_count), "
                f"min(latency_min_ms), max(latency_max_ms) FROM {view}"
            )
            assert cur.fetchall() == [want], view
        # 3 minutes of one UTC day: one day-window per node, its sketch
        # holding every latency of its minutes.
        cur.execute(
            "SELECT count(*) = count(DISTINCT orchestrator || node_id || region), "
            "bool_and(ddsketch_count(latency_sketch) = latency_count) FROM telemetry_1d"
        )
        assert cur.fetchall() == [(True, True)]
