#!/usr/bin/env python3
"""The gateway-event path at network density, naap against DuckDB, in one run.

    $NAAP_VENV/bin/python bench/gateway.py [HOURS ...]      (default: 2 6 24)

For each span: `naap emit --simulate 200 --gateway-live --sessions-per-hour 60`
writes that many hours of go-livepeer gateway events (NDJSON, ~172 k events
an hour: the network's density); then, on the same file,

  naap    `naap replay --format livepeer-json` into a fresh lake: typed
          tables, sessions with their lifecycle, every hourly aggregate and
          the SLA, committed as Delta versions;
  duckdb  the least comparable work: parse the file, write the raw events
          as zstd Parquet partitioned by date and hour, and group them into
          sessions x hours.

Each runs as its own process; wall time and peak RSS (the kernel's
ru_maxrss of that process) are printed with events/s and naap's ratio to
DuckDB (above 1: naap is faster). Uses $NAAP_BIN (default: the release
build under $CARGO_TARGET_DIR or target/) and the duckdb package of the
Python running this script (pinned in tests/interop/requirements.txt).
With $NAAP_BEFORE set to another naap binary (an earlier build), that one
replays the same file too, in the same run, for a before/after column.
"""

import os
import subprocess
import sys
import tempfile
import time

TARGET = os.environ.get("CARGO_TARGET_DIR", "target")
NAAP = os.environ.get("NAAP_BIN", os.path.join(TARGET, "release", "naap"))
BEFORE = os.environ.get("NAAP_BEFORE")

DUCKDB_WORK = r"""
import sys, duckdb
src, out = sys.argv[1], sys.argv[2]
import os
os.makedirs(out, exist_ok=True)
con = duckdb.connect()
con.execute("SET threads = 2")
con.execute("SET enable_progress_bar = false")
con.execute(f'''
COPY (
  SELECT id, type, gateway, data,
         epoch_ms(CAST(timestamp AS BIGINT)) AS event_time,
         strftime(epoch_ms(CAST(timestamp AS BIGINT)), '%Y-%m-%d') AS date,
         hour(epoch_ms(CAST(timestamp AS BIGINT))) AS hour
  FROM read_json('{src}', format = 'newline_delimited',
                 columns = {{'id': 'VARCHAR', 'type': 'VARCHAR', 'timestamp': 'VARCHAR',
                            'gateway': 'VARCHAR', 'data': 'JSON'}})
) TO '{out}/raw' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (date, hour))''')
n = con.execute(f'''
SELECT count(*) FROM (
  SELECT date, hour,
         coalesce(data->>'stream_id', '') || '|' || coalesce(data->>'request_id', '') AS session_id,
         count(*) AS events, min(event_time) AS first_seen, max(event_time) AS last_seen
  FROM read_parquet('{out}/raw/**/*.parquet', hive_partitioning = true)
  WHERE type IN ('stream_trace', 'ai_stream_status', 'ai_stream_events')
  GROUP BY ALL)''').fetchone()[0]
print(n)
"""


def run(argv):
    """Runs argv; returns (seconds, peak RSS in MiB, stdout)."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(argv)}")
    return seconds, usage.ru_maxrss / 1024, out.decode()


def main():
    spans = [int(h) for h in sys.argv[1:]] or [2, 6, 24]
    if not os.access(NAAP, os.X_OK):
        sys.exit(f"no naap binary at {NAAP}: cargo build --release, or set NAAP_BIN")
    print(f"naap: {NAAP}")
    if BEFORE:
        if not os.access(BEFORE, os.X_OK):
            sys.exit(f"NAAP_BEFORE={BEFORE} is not an executable")
        print(f"before: {BEFORE}")
    rows = []
    for hours in spans:
        with tempfile.TemporaryDirectory(prefix="naap-gw-bench-") as work:
            events_file = os.path.join(work, "events.ndjson")
            print(f"== {hours} h: writing the events", flush=True)
            subprocess.run(
                [NAAP, "emit", "--simulate", "200", "--gateway-live", "--sessions-per-hour", "60",
                 "--from", "2026-11-01T00:00:00Z", "--span", f"{hours}h", "--output", events_file],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with open(events_file, "rb") as f:
                events = sum(1 for _ in f)
            before = None
            if BEFORE:
                print(f"   {events} events; the earlier naap's replay", flush=True)
                before_s, before_mib, _ = run([BEFORE, "replay", "--format", "livepeer-json", "--input",
                                               events_file, "--lake", os.path.join(work, "before")])
                before = (before_s, before_mib)
                print(f"   before: {before_s:.1f} s, peak RSS {before_mib:.0f} MiB", flush=True)
            print(f"   {events} events; naap replay", flush=True)
            naap_s, naap_mib, _ = run([NAAP, "replay", "--format", "livepeer-json", "--input", events_file,
                                       "--lake", os.path.join(work, "lake")])
            print(f"   naap: {naap_s:.1f} s; duckdb", flush=True)
            duck_s, duck_mib, sessions = run([sys.executable, "-c", DUCKDB_WORK, events_file,
                                              os.path.join(work, "duck")])
            rows.append((hours, events, naap_s, naap_mib, duck_s, duck_mib, before))
            print(f"   duckdb: {duck_s:.1f} s ({int(sessions.strip())} session-hours); "
                  f"peak RSS naap {naap_mib:.0f} MiB, duckdb {duck_mib:.0f} MiB", flush=True)
    print()
    head = "| span | events | "
    rule = "|---|---|"
    if BEFORE:
        head += "before s | before events/s | before peak MiB | "
        rule += "---|---|---|"
    print(head + "naap s | naap events/s | naap peak MiB | duckdb s | duckdb events/s "
          "| duckdb peak MiB | naap / duckdb (speed) |")
    print(rule + "---|---|---|---|---|---|---|")
    for hours, events, naap_s, naap_mib, duck_s, duck_mib, before in rows:
        line = f"| {hours} h | {events} | "
        if before:
            line += f"{before[0]:.1f} | {events / before[0] / 1000:.0f} k | {before[1]:.0f} | "
        print(line + f"{naap_s:.1f} | {events / naap_s / 1000:.0f} k | {naap_mib:.0f} "
              f"| {duck_s:.1f} | {events / duck_s / 1000:.0f} k | {duck_mib:.0f} | {duck_s / naap_s:.2f} |")

if __name__ == "__main__":
    main()
