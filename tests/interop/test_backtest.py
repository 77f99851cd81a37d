"""`naap backtest` on simulated live video whose truth is known: orchestrators
with a latent reliability and speed that persist from hour to hour.

* SLA v1 ranks orchestrators as they serve the next hour (ρ > 0, interval
  above zero); the same rule inverted ranks them backwards; a rule that
  scores at random has an interval containing zero; a rule that ignores
  latency gains on success but not on latency.
* The report's figures are recomputed here, independently, with Polars over
  the lake's Delta tables (the pipeline's `sla_hourly` scores and the
  `sla_inputs_hourly` outcomes), and agree.
* The run lands in the `backtests` table, which Flight SQL serves, and the
  dashboard's backtest page renders it in headless Chromium with its charts.
"""
import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import polars as pl
import pytest

from conftest import free_port, port_open, run, wait_until
from dashboard_page import Page, check_charts, chromium, chromium_binary

ROOT = Path(__file__).resolve().parents[2]
SLA_V1 = ROOT / "sql" / "rules" / "sla" / "v1.sql"
START = "2026-11-01T00:00:00Z"

HEADER = """-- name: sla
-- version: {version}
-- owner: naap tests
-- inputs: sla_inputs_hourly
-- output: sla_hourly
-- description: {description}
"""


def v1_body():
    return "\n".join(l for l in SLA_V1.read_text().splitlines() if not l.startswith("--"))


# Scores every row anew each hour from a hash of (orchestrator, hour): no
# relation to quality, different ranks every hour (squaring modulo a prime
# mixes, where a linear step would only rotate last hour's order), the same
# every run.
RANDOM_RULE = """WITH rows AS (
  SELECT window_start, orchestrator, pipeline, model,
    (ascii(substr(orchestrator, 3, 1)) * 1000003 + ascii(substr(orchestrator, 4, 1)) * 10007
      + ascii(substr(orchestrator, 5, 1)) * 101 + ascii(substr(orchestrator, 6, 1))
      + ascii(substr(orchestrator, 40, 1)) * 7 + ascii(substr(orchestrator, 41, 1)) * 13
      + to_unixtime(window_start) / 3600 * 7919) % 2147483647 AS x0
  FROM sla_inputs_hourly WHERE orchestrator IS NOT NULL
  GROUP BY window_start, orchestrator, pipeline, model
), r1 AS (
  SELECT *, (x0 * x0 + 40503) % 2147483647 AS x1 FROM rows
), r2 AS (
  SELECT *, (x1 * x1 + 65599) % 2147483647 AS x2 FROM r1
)
SELECT window_start, orchestrator, pipeline, model, CAST(x2 % 10000 AS DOUBLE) / 100.0 AS sla_score
FROM r2
"""

# Startup success alone: says nothing of latency.
LATENCY_BLIND_RULE = """SELECT window_start, orchestrator, pipeline, model,
  100.0 * sum(startup_success_sessions) / sum(requested_sessions) AS sla_score
FROM sla_inputs_hourly
WHERE orchestrator IS NOT NULL
GROUP BY window_start, orchestrator, pipeline, model
HAVING sum(requested_sessions) > 0
"""


def rule_files(dir):
    files = {
        "inverted": (901, "SLA v1 turned upside down: 100 - its score.",
                     "SELECT window_start, orchestrator, pipeline, model, 100.0 - sla_score AS sla_score\n"
                     f"FROM (\n{v1_body()}\n) AS v1\n"),
        "random": (902, "a hash of orchestrator and hour: no evidence at all.", RANDOM_RULE),
        "latency_blind": (903, "startup success of the hour, nothing else.", LATENCY_BLIND_RULE),
    }
    paths = {}
    for name, (version, description, body) in files.items():
        path = dir / f"{name}.sql"
        path.write_text(HEADER.format(version=version, description=description) + body)
        paths[name] = path
    return paths


@pytest.fixture(scope="module")
def backtested(naap_bin, tmp_path_factory):
    dir = tmp_path_factory.mktemp("backtest")
    events, lake = dir / "live.ndjson", dir / "naap-data"
    run([naap_bin, "emit", "--simulate", "30", "--gateway-live", "--sessions-per-hour", "6", "--seed", "7",
         "--from", START, "--span", "30h", "--output", str(events)])
    run([naap_bin, "replay", "--input", str(events), "--format", "livepeer-json", "--lake", str(lake),
         "--session-lookback", "1h"])
    files = rule_files(dir)
    p = run([naap_bin, "backtest", "--lake", str(lake / "lake"), "--rule", "sla=1",
             *[a for f in files.values() for a in ("--rule-file", str(f))], "--json"])
    report = json.loads(p.stdout)
    by_version = {r["version"]: r for r in report["rules"]}
    return {"lake": lake, "report": report, "rules": by_version, "files": files, "stderr": p.stderr, "dir": dir}


def figures(rule, metric):
    """{(pipeline, model): figure} of groups with enough scored hours."""
    out = {}
    for g in rule["groups"]:
        [m] = [m for m in g["metrics"] if m["metric"] == metric]
        if m["hours"] >= 10:
            out[(g["pipeline"], g["model"])] = m
    assert out, rule
    return out


def test_sla_v1_predicts_next_hour_success(backtested):
    report = backtested["report"]
    assert report["hours_scored"] >= 25 and report["horizon_hours"] == 1, report["hours_scored"]
    assert "scored" in backtested["stderr"] and "appended to the backtests table" in backtested["stderr"]
    for group, m in figures(backtested["rules"][1], "spearman_startup_success").items():
        assert m["low"] > 0, (group, m)
    uplift = figures(backtested["rules"][1], "uplift_success_vs_random")
    for group, m in uplift.items():
        assert m["value"] > 0, (group, m)
    # The model most orchestrators serve has the sessions to show it with
    # an interval above zero.
    largest = max(uplift.values(), key=lambda m: m["pairs"])
    assert largest["low"] > 0, largest
    for group, m in figures(backtested["rules"][1], "coverage").items():
        assert 0.8 < m["value"] <= 1.0, (group, m)


def test_an_inverted_rule_correlates_negatively(backtested):
    for group, m in figures(backtested["rules"][901], "spearman_startup_success").items():
        assert m["high"] < 0, (group, m)
    for group, m in figures(backtested["rules"][901], "uplift_success_vs_random").items():
        assert m["high"] < 0, (group, m)


def test_a_random_rule_has_an_interval_containing_zero(backtested):
    for metric in ["spearman_startup_success", "spearman_output_viability", "spearman_e2e_latency"]:
        for group, m in figures(backtested["rules"][902], metric).items():
            assert m["low"] < 0 < m["high"], (metric, group, m)


def test_a_rule_that_ignores_latency_gains_no_latency(backtested):
    """No evidence of a latency gain in any group. Intervals are over hours,
    for the orchestrators the lake holds: a top k that persists can differ
    from the rest by chance in what the rule ignores, so "no gain" is that
    the interval does not lie above zero, not that it straddles zero."""
    blind = backtested["rules"][903]
    for group, m in figures(blind, "uplift_latency_ms_vs_random").items():
        assert m["low"] <= 0, (group, m)
    # It is not that nothing works: the same rule does gain on success.
    success = figures(blind, "uplift_success_vs_random")
    assert max(success.values(), key=lambda m: m["pairs"])["low"] > 0, success


def read(lake, table):
    return pl.read_delta(str(lake / "lake" / table))


def test_the_figures_agree_with_an_independent_recomputation(backtested):
    """SLA v1's ρ, coverage and top-3 uplift, recomputed with Polars from
    the scores the pipeline wrote (`sla_hourly`) and the outcomes in
    `sla_inputs_hourly`, by the definitions in README's "Backtesting a rule"."""
    lake, report = backtested["lake"], backtested["report"]
    hour = pl.col("window_start").dt.epoch("ms")
    scores = (read(lake, "sla_hourly").filter((pl.col("rule") == "sla") & (pl.col("rule_version") == 1))
              .select(hour.alias("h"), "orchestrator", "pipeline", "model", "sla_score"))
    outcomes = (read(lake, "sla_inputs_hourly").filter(pl.col("orchestrator").is_not_null())
                .group_by(hour.alias("h"), "orchestrator", "pipeline", "model")
                .agg(pl.col("requested_sessions").sum().alias("n"),
                     pl.col("startup_success_sessions").sum().alias("ok"))
                .filter(pl.col("n") > 0)
                .with_columns((pl.col("ok") / pl.col("n")).alias("success"),
                              (pl.col("h") - 3_600_000).alias("h")))
    scored_hours = set(range(report["from_ms"], report["to_ms"], 3_600_000))
    joined = outcomes.filter(pl.col("h").is_in(scored_hours)).join(
        scores, on=["h", "orchestrator", "pipeline", "model"], how="left")
    checked = 0
    for g in backtested["rules"][1]["groups"]:
        mine = joined.filter((pl.col("pipeline") == g["pipeline"]) & (pl.col("model") == g["model"]))
        figure = {m["metric"]: m for m in g["metrics"]}
        # Coverage: next-hour sessions whose orchestrator had a score.
        covered = mine.filter(pl.col("sla_score").is_not_null())["n"].sum() / mine["n"].sum()
        assert covered == pytest.approx(figure["coverage"]["value"], abs=1e-12)
        rhos, uplifts = [], []
        for (_,), hour_rows in mine.filter(pl.col("sla_score").is_not_null()).group_by(["h"]):
            if hour_rows.height >= 3 and hour_rows["sla_score"].n_unique() > 1 and hour_rows["success"].n_unique() > 1:
                rhos.append(hour_rows.select(pl.corr(pl.col("sla_score").rank("average"),
                                                     pl.col("success").rank("average"))).item())
        for (_,), hour_rows in mine.group_by(["h"]):
            ranked = hour_rows.filter(pl.col("sla_score").is_not_null()).sort(
                ["sla_score", "orchestrator"], descending=[True, False])
            if ranked.height == 0:
                continue
            top = ranked.head(report["top_k"])["success"].mean()
            uplifts.append(top - hour_rows["success"].mean())
        assert figure["spearman_startup_success"]["hours"] == len(rhos)
        assert sum(rhos) / len(rhos) == pytest.approx(figure["spearman_startup_success"]["value"], abs=1e-9)
        assert sum(uplifts) / len(uplifts) == pytest.approx(figure["uplift_success_vs_random"]["value"], abs=1e-9)
        checked += 1
    assert checked >= 2


def test_the_terminal_table_and_refusals(naap_bin, backtested):
    lake, files = backtested["lake"], backtested["files"]
    p = run([naap_bin, "backtest", "--lake", str(lake), "--rule", "sla=1", "--rule-file", str(files["inverted"]),
             "--no-write", "--bootstrap", "200"])
    assert "ρ startup success" in p.stdout and "sla v1" in p.stdout and "sla v901" in p.stdout, p.stdout
    assert "inverted.sql" in p.stdout and "[naap backtest] scored" in p.stderr, p.stderr
    env = dict(os.environ, NAAP_LOG="warn")
    for args, reason in [
        (["--rule", "jobs=1"], "backtests compare scores with live-video session outcomes"),
        (["--rule", "sla=7"], "no such built-in rule version"),
        (["--rule", "sla=1", "--horizon", "90m"], "a whole number of hours"),
        (["--rule", "sla=1", "--from", "2027-01-01T00:00:00Z"], "no hour of sla_inputs_hourly to score"),
    ]:
        q = subprocess.run([naap_bin, "backtest", "--lake", str(lake), "--no-write", *args],
                           capture_output=True, text=True, env=env)
        assert q.returncode != 0 and reason in q.stderr, (args, q.stderr)
    empty = backtested["dir"] / "empty"
    empty.mkdir()
    q = subprocess.run([naap_bin, "backtest", "--lake", str(empty)], capture_output=True, text=True, env=env)
    assert q.returncode != 0 and "holds no lake tables" in q.stderr, q.stderr


def test_a_weight_choice_is_evaluated_as_a_selection_policy(naap_bin, backtested):
    lake = backtested["lake"]

    def policy(weights):
        p = run([naap_bin, "backtest", "--lake", str(lake), "--rule", "sla=1", "--no-write", "--bootstrap", "200",
                 "--json", "--weights", weights])
        report = json.loads(p.stdout)
        return report, {(g["pipeline"], g["model"]): {m["metric"]: m for m in g["metrics"]}
                        for g in report["rules"][0]["groups"]}

    scored, by_score = policy("score=1")
    assert scored["policy"] == {"score": 1.0, "price": 0.0, "latency": 0.0}
    for group, m in by_score.items():
        # The score alone ranks as the plain top k does: the same figures.
        for what in ("success", "latency_ms"):
            assert m[f"policy_uplift_{what}_vs_random"]["value"] == m[f"uplift_{what}_vs_random"]["value"], group
        assert m["policy_weight_score"]["value"] == 1.0
    priced, by_price = policy("price=3, latency=1")
    assert priced["policy"] == {"score": 0.0, "price": 0.75, "latency": 0.25}
    figures = [(m["policy_uplift_success_vs_random"]["value"], m["uplift_success_vs_random"]["value"])
               for m in by_price.values() if m["policy_uplift_success_vs_random"]["hours"] >= 10]
    assert figures and all(p is not None for p, _ in figures)
    # Price and latency of hour h were seen: the picks are not the score's.
    assert any(abs(p - plain) > 1e-9 for p, plain in figures), figures
    p = run([naap_bin, "backtest", "--lake", str(lake), "--rule", "sla=1", "--no-write", "--bootstrap", "50",
             "--weights", "score=0.6,price=0.2,latency=0.2"])
    assert "policy: score 0.6 price 0.2 latency 0.2" in p.stdout and "success, policy − random" in p.stdout, p.stdout
    env = dict(os.environ, NAAP_LOG="warn")
    for weights, reason in [("speed=1", '"speed" is not a weight'), ("score=-1", "a weight is a number"),
                            ("price=nan", "a weight is a number"), ("score=1e308,price=1e308", "a weight is a number"),
                            ("score=0", "the weights sum to 0"), ("score", "expected NAME=WEIGHT")]:
        q = subprocess.run([naap_bin, "backtest", "--lake", str(lake), "--no-write", "--weights", weights],
                           capture_output=True, text=True, env=env)
        assert q.returncode != 0 and reason in q.stderr, (weights, q.stderr)


def test_the_run_is_served_and_the_page_draws_it(naap_bin, backtested, serve_lake, tmp_path):
    import adbc_driver_flightsql.dbapi as flight_sql

    lake, report = backtested["lake"], backtested["report"]
    flight_port, http_port = serve_lake(lake)
    with flight_sql.connect(f"grpc://127.0.0.1:{flight_port}") as conn, conn.cursor() as cur:
        cur.execute("SELECT count(DISTINCT metric), count(*) FROM backtests WHERE run_id = '%s'" % report["run_id"])
        metrics, rows = cur.fetchone()
    assert metrics == 9 and rows > 4 * 9, (metrics, rows)
    base = f"http://127.0.0.1:{http_port}"
    with urllib.request.urlopen(f"{base}/v1/backtests", timeout=30) as answer:
        body = json.load(answer)
    assert body["run"] == report["run_id"] and body["metric"] == "spearman_startup_success"
    served = {(f["rule_version"], f["pipeline"], f["model"], f["metric"]): f for f in body["summary"]}
    for r in report["rules"]:
        for g in r["groups"]:
            for m in g["metrics"]:
                f = served[(r["version"], g["pipeline"], g["model"], m["metric"])]
                assert f["value"] == pytest.approx(m["value"]) if m["value"] is not None else f["value"] is None
    assert len(body["hourly"]) >= 4 * report["hours_scored"], len(body["hourly"])
    for bad in ["?run=nope", "?metric=nope"]:
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"{base}/v1/backtests{bad}", timeout=30)
        assert e.value.code == 400

    browser = chromium_binary()
    dom = chromium(browser, tmp_path / "profile", f"{base}/#/backtests", "--dump-dom")
    groups = {(g["pipeline"], g["model"]) for r in report["rules"] for g in r["groups"]}
    for pipeline, model in groups:
        assert f"<h3>{pipeline} / {model}</h3>" in dom, dom[-3000:]
    assert "sla v901 (inverted.sql)" in dom and "ρ with next-hour startup success" in dom, dom[-3000:]
    # Per group: the versions side by side in one table, then three charts
    # of each hour's correlations, a line and a legend entry per version.
    page = Page(dom)
    check_charts(page, "backtests", 3 * len(groups))
    versions = len(report["rules"])
    startup = [c for c in page.charts if c["slot"] == "bt-startup"]
    assert len(startup) == len(groups), [c["slot"] for c in page.charts]
    assert max(len(c["colours"]) for c in startup) == versions, [c["colours"] for c in startup]
    assert all(c["swatches"] == len(c["colours"]) for c in startup)
    artifacts = Path(os.environ.get("NAAP_TEST_ARTIFACTS", tmp_path / "artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    chromium(browser, tmp_path / "profile", f"{base}/#/backtests", f"--screenshot={artifacts / 'backtests.png'}",
             "--window-size=1280,1800")
    assert (artifacts / "backtests.png").stat().st_size > 10_000


def test_a_benchmark_too_thin_to_say_anything_is_warned_about(naap_bin, backtested, tmp_path):
    """Six hours of history: no hour has a previous day of benchmark rows,
    so the SLA's quality half is neutral everywhere and re-weighted versions
    cannot differ there; the backtest says so instead of only printing
    figures."""
    events, lake = tmp_path / "live.ndjson", tmp_path / "naap-data"
    run([naap_bin, "emit", "--simulate", "10", "--gateway-live", "--sessions-per-hour", "6", "--seed", "3",
         "--from", START, "--span", "6h", "--output", str(events)])
    run([naap_bin, "replay", "--input", str(events), "--format", "livepeer-json", "--lake", str(lake)])
    p = run([naap_bin, "backtest", "--lake", str(lake / "lake"), "--rule", "sla=1", "--json", "--no-write"])
    assert "warning: sla v1: 100 % of its" in p.stderr and "fewer than 48 rows" in p.stderr, p.stderr
    [rule] = json.loads(p.stdout)["rules"]
    assert rule["thin_benchmark_rows"] == rule["scored_rows"] > 0, rule
    # The 30-hour lake: its first day has no day behind it, its last six
    # hours have one, so some rows have a benchmark and most do not.
    full = backtested["rules"][1]
    assert full["scored_rows"] / 2 < full["thin_benchmark_rows"] < full["scored_rows"], full["thin_benchmark_rows"]
    assert "warning: sla v1:" in backtested["stderr"], backtested["stderr"]
