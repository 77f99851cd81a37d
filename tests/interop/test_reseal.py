"""A lake from an older release upgrades in place, without a replay.

The older release is fabricated on a real lake: `sessions` rewritten with
the deltalake package as a table without the `tail_artifact` column (an
older schema), and `orchestrator_hourly` holding other numbers, recorded as
sealed by version 0 of its aggregate (an older formula). The new release
then seals a further hour (the schema evolves; the start names the reseal
command), and `naap reseal` rebuilds every sealed hour from the raw tables,
while a reader (the deltalake package) reads each new Delta version of both
tables and must see every hour, each session once, at every version.
"""
import json
import threading

import adbc_driver_flightsql.dbapi as flightsql
import polars as pl
from deltalake import DeltaTable, write_deltalake

from conftest import Proc, free_port, port_open, run, wait_until

FROM = "2026-03-01T00:00:00Z"
SPLIT_MS = 1772323200000 + 2 * 3_600_000  # 2026-03-01T02:00:00Z


def split(events, before, after):
    with open(events) as src, open(before, "w") as b, open(after, "w") as a:
        for line in src:
            (b if int(json.loads(line)["timestamp"]) < SPLIT_MS else a).write(line)


def newest_record(lake):
    records = sorted((lake / "_naap" / "commits").glob("*.json"))
    return records[-1]


class Reader(threading.Thread):
    """Reads every new version of the tables; records what it must never see."""

    def __init__(self, lake):
        super().__init__(daemon=True)
        self.lake, self.stop, self.problems, self.versions = lake, threading.Event(), [], 0
        self.hours = {"sessions": set(), "orchestrator_hourly": set()}

    def check(self, table):
        dt = DeltaTable(str(self.lake / "lake" / table))
        rows = pl.from_arrow(dt.to_pyarrow_table())
        hours = set(rows["window_start"].to_list())
        if not hours >= self.hours[table]:
            self.problems.append(f"{table} v{dt.version()}: hours {self.hours[table] - hours} went missing")
        self.hours[table] |= hours
        if table == "sessions":
            twice = rows.group_by(["window_start", "session_id"]).len().filter(pl.col("len") > 1)
            if len(twice):
                self.problems.append(f"sessions v{dt.version()}: {len(twice)} sessions twice in an hour")
        return dt.version()

    def run(self):
        seen = {}
        while not self.stop.is_set():
            for table in self.hours:
                version = DeltaTable(str(self.lake / "lake" / table)).version()
                if seen.get(table) != version:
                    seen[table] = self.check(table)
                    self.versions += 1
            self.stop.wait(0.05)


def test_an_older_lake_upgrades_in_place_while_a_reader_sees_every_hour_once(naap_bin, tmp_path):
    events = tmp_path / "live.ndjson"
    run([naap_bin, "emit", "--simulate", "6", "--gateway-live", "--sessions-per-hour", "20", "--from", FROM,
         "--span", "3h", "--output", str(events)])
    first, second = tmp_path / "first.ndjson", tmp_path / "second.ndjson"
    split(events, first, second)
    lake, fresh = tmp_path / "lake", tmp_path / "fresh"
    run([naap_bin, "replay", "--input", str(first), "--format", "livepeer-json", "--lake", str(lake)])
    # What this release computes from all the events at once, for comparison.
    run([naap_bin, "replay", "--input", str(events), "--format", "livepeer-json", "--lake", str(fresh)])

    # The older release: sessions without a column, orchestrator_hourly by another formula.
    sessions = lake / "lake" / "sessions"
    older = DeltaTable(str(sessions)).to_pyarrow_table()
    older = older.drop_columns(["tail_artifact"])
    write_deltalake(str(sessions), older, mode="overwrite", schema_mode="overwrite", partition_by=["date", "hour"])
    hourly = lake / "lake" / "orchestrator_hourly"
    doubled = pl.from_arrow(DeltaTable(str(hourly)).to_pyarrow_table()).with_columns(pl.col("sessions") * 2)
    write_deltalake(str(hourly), doubled.to_arrow(), mode="overwrite", partition_by=["date", "hour"])
    record = newest_record(lake)
    content = json.loads(record.read_text())
    content["sealed_with"]["orchestrator_hourly"] = 0
    record.write_text(json.dumps(content))

    flight_port = free_port()
    serve = Proc([naap_bin, "serve", "--lake", str(lake), "--flight-addr", f"127.0.0.1:{flight_port}",
                  "--http-addr", f"127.0.0.1:{free_port()}"], tmp_path / "serve.log")
    wait_until(lambda: port_open(flight_port), 30, "naap serve")

    def served():
        with flightsql.connect(f"grpc://127.0.0.1:{flight_port}") as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*), count(tail_artifact) FROM sessions")
            return cur.fetchall()[0]

    reader = Reader(lake)
    reader.start()
    try:
        # The new release seals another hour: it says what to reseal, and the schema evolves.
        started = run([naap_bin, "replay", "--input", str(second), "--format", "livepeer-json", "--lake", str(lake)])
        assert f"naap reseal --lake {lake} --tables orchestrator_hourly" in started.stderr, started.stderr
        assert "sessions" not in started.stderr.split("naap reseal")[0].split("older version")[0], started.stderr
        evolved = pl.from_arrow(DeltaTable(str(sessions)).to_pyarrow_table())
        old_hours = evolved.filter(pl.col("window_start") < pl.lit(SPLIT_MS).cast(pl.Datetime("ms", "UTC")))
        new_hours = evolved.filter(pl.col("window_start") >= pl.lit(SPLIT_MS).cast(pl.Datetime("ms", "UTC")))
        assert len(old_hours) and old_hours["tail_artifact"].null_count() == len(old_hours)
        assert len(new_hours) and new_hours["tail_artifact"].null_count() == 0
        # naap serve reads the evolved table too: the old hours' column as null.
        assert served() == (len(evolved), len(new_hours))

        raw = pl.from_arrow(DeltaTable(str(lake / "lake" / "gateway_events")).to_pyarrow_table(columns=["date", "hour"]))
        done = run([naap_bin, "reseal", "--lake", str(lake)])
        assert f"reseal: {len(raw.unique())} hours rebuilt" in done.stdout, done.stdout
        total = len(DeltaTable(str(sessions)).to_pyarrow_table(columns=["session_id"]))
        assert served() == (total, total)
    finally:
        reader.stop.set()
        reader.join(10)
        serve.stop()
    assert reader.versions >= 6, reader.versions
    assert not reader.problems, reader.problems

    def table(root, name):
        rows = pl.from_arrow(DeltaTable(str(root / "lake" / name)).to_pyarrow_table())
        rows = rows.select(sorted(rows.columns))
        keys = [c for c in rows.columns if rows[c].dtype not in (pl.Float64, pl.Float32)]
        return rows.sort(keys)

    for name in ["sessions", "orchestrator_hourly", "sla_inputs_hourly", "sla_hourly"]:
        got, want = table(lake, name), table(fresh, name)
        assert got.shape == want.shape, (name, got.shape, want.shape)
        for column in want.columns:
            if want[column].dtype in (pl.Float64, pl.Float32):
                # Sums of floats depend on the order rows were added in.
                assert ((got[column] - want[column]).abs().fill_null(0) < 1e-6).all(), (name, column)
            else:
                assert got[column].equals(want[column]), (name, column)
    assert json.loads(newest_record(lake).read_text())["sealed_with"]["orchestrator_hourly"] == 1
    again = run([naap_bin, "reseal", "--lake", str(lake), "--tables", "sessions", "--since", "2026-03-01T02:00:00Z"])
    # Hours 00 and 01 are before --since; no table is outdated any more.
    assert f"reseal: {len(raw.unique()) - 2} hours rebuilt" in again.stdout, again.stdout
    assert "older version" not in again.stderr, again.stderr
