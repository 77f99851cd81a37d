#!/usr/bin/env bash
# How long a backtest takes over 30 days of 200 orchestrators:
#
#   bench/backtest.sh [ORCHESTRATORS] [DAYS] [SESSIONS_PER_HOUR]
#
# 1. simulates ORCHESTRATORS (default 200) live-video orchestrators over
#    DAYS (default 30) with SESSIONS_PER_HOUR sessions each and hour
#    (default 1), as go-livepeer gateway events (NDJSON);
# 2. replays them into a fresh local lake (the hours sealed into
#    sla_inputs_hourly and sla_hourly), timed;
# 3. backtests SLA v1 alone, then SLA v1 beside a second version (v1's SQL
#    as a candidate file), over every hour, timed with peak RSS.
#
# Uses $NAAP_BIN (default: the dev build, optimised dependencies and
# unoptimised naap crates). Keeps nothing: the lake is in a temp directory.
set -euo pipefail
ORCHS=${1:-200}
DAYS=${2:-30}
SESSIONS=${3:-1}
TARGET=${CARGO_TARGET_DIR:-target}
NAAP_BIN=${NAAP_BIN:-$TARGET/debug/naap}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export NAAP_LOG=${NAAP_LOG:-warn}

timed() { # LABEL CMD...: wall seconds and peak RSS of CMD
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$@" >"$WORK/$label.out" 2>"$WORK/$label.err"
  read -r secs kib <"$WORK/time"
  printf '%-34s %8.1f s   peak RSS %5d MiB\n' "$label" "$secs" $((kib / 1024))
}

echo "== $ORCHS orchestrators, $DAYS days, $SESSIONS session(s) per orchestrator and hour; $(nproc) cores"
"$NAAP_BIN" emit --simulate "$ORCHS" --gateway-live --sessions-per-hour "$SESSIONS" \
  --from 2026-10-01T00:00:00Z --span "$((DAYS * 24))h" --output "$WORK/live.ndjson" >/dev/null
echo "events: $(wc -l <"$WORK/live.ndjson") ($(du -h "$WORK/live.ndjson" | cut -f1))"
timed "replay (seal $((DAYS * 24)) hours)" "$NAAP_BIN" replay --format livepeer-json --input "$WORK/live.ndjson" \
  --lake "$WORK/lake" --session-lookback 1h
rm -f "$WORK/live.ndjson"
timed "backtest sla v1" "$NAAP_BIN" backtest --lake "$WORK/lake" --rule sla=1 --no-write
grep -m1 "hours in" "$WORK/backtest sla v1.err" || true
sed 's/^-- version: 1$/-- version: 2/' sql/rules/sla/v1.sql >"$WORK/sla_v2.sql"
timed "backtest sla v1 + a candidate v2" "$NAAP_BIN" backtest --lake "$WORK/lake" --rule sla=1 \
  --rule-file "$WORK/sla_v2.sql" --no-write
grep -m1 "hours in" "$WORK/backtest sla v1 + a candidate v2.err" || true
echo "--- the table of the second run:"
cat "$WORK/backtest sla v1 + a candidate v2.out"
