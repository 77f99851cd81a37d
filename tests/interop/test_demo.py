"""`naap demo` as a user meets it: ADBC Flight SQL during the run, DuckDB after."""
import json
import re
import shlex
import subprocess
import sys
import urllib.request

import adbc_driver_flightsql.dbapi as flightsql
import polars as pl

from lake_readers import duckdb_connection
from conftest import free_port, port_open, run, wait_until

ORCHESTRATORS = 18
# The demo also runs this machine's node agent, configured by data/emitter.toml.
AGENT = "0x00000000000000000000000000000000000000aa"


def test_demo_serves_scores_and_the_lake_matches_its_report(naap_bin, background, tmp_path):
    network = json.loads(run([naap_bin, "emit", "--simulate", str(ORCHESTRATORS), "--describe"]).stdout)
    outage = {o["address"]: o["outage_secs_per_minute"] for o in network["orchestrators"]}
    assert len(outage) == ORCHESTRATORS

    flight_port, http_port, byoc_port = free_port(), free_port(), free_port()
    lake = tmp_path / "naap-data"
    demo = background(
        [naap_bin, "demo", "--duration", "45s", "--orchestrators", str(ORCHESTRATORS), "--lake", str(lake),
         "--flight-addr", f"127.0.0.1:{flight_port}", "--http-addr", f"127.0.0.1:{http_port}",
         "--byoc-addr", f"127.0.0.1:{byoc_port}", "--backfill", "5m", "--progress-every", "2s"],
        "demo",
    )

    # A container on this machine posts a custom event to the node agent.
    request = urllib.request.Request(
        f"http://127.0.0.1:{byoc_port}/v1/events/model_loaded",
        data=json.dumps({"model": "streamdiffusion", "load_ms": 5300}).encode(),
        headers={"content-type": "application/json"},
    )
    wait_until(lambda: port_open(byoc_port), 60, "the node agent's BYOC endpoint")
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 202 and json.load(answer) == {"accepted": 1}

    def scores():
        with flightsql.connect(f"grpc://127.0.0.1:{flight_port}") as conn, conn.cursor() as cur:
            cur.execute("SELECT orchestrator, score FROM scores")
            rows = [(o, s) for o, s in cur.fetchall() if o != AGENT]
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

    # Every command the demo suggests runs as printed, while it runs (the
    # backtest once the lake stands still).
    later, commands = [], printed_commands(demo.output())
    assert len(commands) >= 8, commands
    for command in commands:
        if command[0] == "naap":
            later.append([naap_bin, *command[1:]])
            continue
        if command[0] == "python3":
            command = [sys.executable, *command[1:]]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and done.stdout.strip(), (command, done.stdout[-500:], done.stderr[-2000:])
        assert "error" not in done.stdout[:200].lower(), (command, done.stdout[:500])

    demo.p.wait(90)
    out = demo.output()
    assert later, "the demo suggests a backtest"
    for command in later:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (command, done.stderr[-2000:])
    assert demo.p.returncode == 0, out
    assert "[naap demo] events in" in out, "progress lines are printed"
    reported = {m.group(1): int(m.group(2)) for m in re.finditer(r"rows written to (\w+): (\d+)", out)}
    con = duckdb_connection()
    assert reported.get("telemetry_1m", 0) > 0, out
    for table, n in reported.items():
        [(count,)] = con.sql(f"SELECT count(*) FROM delta_scan('{lake / 'lake' / table}')").fetchall()
        assert count == n, f"{table}: DuckDB counts {count}, the pipeline reported {n}"
    # The node agent's own rows: heartbeats without a GPU here, and the custom event.
    agent_rows = con.sql(
        f"SELECT count(*) FROM delta_scan('{lake}/lake/node_telemetry') "
        f"WHERE orchestrator = '{AGENT}' AND kind = 'heartbeat'").fetchall()[0][0]
    assert agent_rows >= 3, out
    [(ce_type, data)] = con.sql(
        f"SELECT ce_type, data FROM delta_scan('{lake}/lake/custom_event')").fetchall()
    assert (ce_type, json.loads(data)) == ("model_loaded", {"load_ms": 5300, "model": "streamdiffusion"})
    # Polars reads the same lake.
    frame = pl.scan_delta(str(lake / "lake" / "scores")).collect()
    assert frame.height == reported["scores"]
    assert {"orchestrator", "rule", "rule_version", "window_start", "window_end", "score", "date", "hour"} <= set(frame.columns)


def printed_commands(output):
    """The commands under the demo's "Try, while it runs:", as argv lists
    (comments dropped); `open` needs a desktop and is left out."""
    lines = output.split("Try, while it runs:", 1)[1].splitlines()[1:]
    commands = []
    for line in lines:
        if line.startswith("[naap demo]"):
            break
        if not line.startswith("  "):
            continue  # a log line between them
        command = shlex.split(line, comments=True)
        if command and command[0] != "open":
            commands.append(command)
    return commands
