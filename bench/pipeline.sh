#!/usr/bin/env bash
# Pipeline throughput against the transport's own limit, in one run:
#
#   bench/pipeline.sh BROKERS [ORCHESTRATORS] [HOURS]
#
# 1. loads ORCHESTRATORS (default 200) simulated orchestrators over HOURS
#    (default 10) of event time into a fresh 8-partition topic, ~1k events
#    per message (one message per orchestrator and 30 minutes);
# 2. (a) reads every message with a bare rdkafka consumer, no decoding
#    (pipeline/examples/raw_consume.rs);
# 3. (b) runs `naap pipeline` over the same topic into a fresh lake and times
#    it to the last commit (the last commit record's committed_at), from the
#    process's start and from its partition assignment (its log line),
#    with its peak RSS from /proc. Its allowed lateness (35 min) covers the
#    30-minute span of one message: with less, every message after the first
#    of a span would land behind its partition's watermark and be re-committed
#    as late data, which measures the late path instead;
# 4. publishes live for 30 s (one message per orchestrator and second) to a
#    second topic while a pipeline consumes it, and reads the p50/p99 of
#    message-to-queryable latency from the pipeline's own /metrics.
#
# Uses $NAAP_BIN (default: the dev build, optimised dependencies and
# unoptimised naap crates) and the raw_consume example of the same profile.
# With $NAAP_BEFORE_BIN (another naap build, e.g. of the previous release),
# step (b) first runs that binary over the same topic, for a before/after
# comparison in one run on one machine.
set -euo pipefail
BROKERS=${1:?usage: $0 BROKERS [ORCHESTRATORS] [HOURS]}
ORCHS=${2:-200}
HOURS=${3:-10}
TARGET=${CARGO_TARGET_DIR:-target}
NAAP_BIN=${NAAP_BIN:-$TARGET/debug/naap}
RAW_BIN=${RAW_BIN:-$TARGET/debug/examples/raw_consume}
WORK=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
RUN=$(date +%s)
TOPIC="bench-$RUN"

peak_rss_mib() { # PID: polls VmHWM until the process ends; prints MiB
  local pid=$1 hwm=0
  while kill -0 "$pid" 2>/dev/null; do
    v=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [[ -n "$v" && "$v" -gt "$hwm" ]] && hwm=$v
    sleep 0.2
  done
  echo $((hwm / 1024))
}

echo "== load: $ORCHS orchestrators x ${HOURS}h into $TOPIC (8 partitions)"
LOAD=$("$NAAP_BIN" emit --brokers "$BROKERS" --topic "$TOPIC" --partitions 8 \
  --simulate "$ORCHS" --from 2026-01-08T00:00:00Z --span "${HOURS}h" --batch-span 30m 2>/dev/null | tail -1)
echo "$LOAD"
EVENTS=$(echo "$LOAD" | awk '{print $4}')
MESSAGES=$(echo "$LOAD" | awk '{print $2}')

echo "== (a) raw rdkafka consumption, no decoding"
RAW=$("$RAW_BIN" "$BROKERS" "$TOPIC" "$MESSAGES")
echo "$RAW"
RAW_S=$(echo "$RAW" | python3 -c 'import json,sys; print(json.load(sys.stdin)["seconds"])')

# (b) for one binary: seconds from start and from assignment to the last
# commit, and peak RSS; prints "PIPE_S CONSUME_S PEAK".
run_pipeline() { # BIN LAKE NAME
  local bin=$1 lake=$2 name=$3 start pid peak last assigned
  start=$(date +%s%3N)
  "$bin" pipeline --brokers "$BROKERS" --topic "$TOPIC" --lake "$lake" --allowed-lateness 35m --dedup-horizon 35m \
    --group-id "bench-$RUN-$name" --stop-after-idle 3s --compact-every 0s >"$WORK/$name.out" 2>"$WORK/$name.log" &
  pid=$!
  PIDS+=($pid)
  peak=$(peak_rss_mib $pid)
  wait $pid
  # The newest commit record (`_naap/commits/`; `_naap/manifest/` before Delta).
  last=$(python3 - "$lake/_naap" <<'PY'
import json, os, sys
d = sys.argv[1]
folder = os.path.join(d, "commits") if os.path.isdir(os.path.join(d, "commits")) else os.path.join(d, "manifest")
print(max(json.load(open(os.path.join(folder, f)))["committed_at_ms"] for f in os.listdir(folder)))
PY
)
  tail -1 "$WORK/$name.out" >&2
  # Start-up (recovery, connecting, the assignment) is not consumption: the
  # second figure starts at the log line of the assignment.
  assigned=$(python3 - "$WORK/$name.log" <<'PY'
import datetime, sys
for line in open(sys.argv[1]):
    if "assigned partitions" in line:
        stamp = line.split()[0].rstrip("Z")[:26]
        t = datetime.datetime.fromisoformat(stamp).replace(tzinfo=datetime.timezone.utc)
        print(int(t.timestamp() * 1000))
        break
PY
)
  python3 -c "print(($last - $start) / 1000, ($last - $assigned) / 1000, $peak)"
}

if [[ -n "${NAAP_BEFORE_BIN:-}" ]]; then
  echo "== (b0) the previous naap ($NAAP_BEFORE_BIN) over the same topic, for before/after"
  read -r BEFORE_S BEFORE_CONSUME_S BEFORE_PEAK < <(run_pipeline "$NAAP_BEFORE_BIN" "$WORK/lake-before" before)
  python3 -c "print(f'(b0) before: {$EVENTS / $BEFORE_CONSUME_S:,.0f} events/s from assignment ({$BEFORE_CONSUME_S:.2f} s), peak RSS $BEFORE_PEAK MiB')"
fi
echo "== (b) naap pipeline, first message to last commit"
read -r PIPE_S CONSUME_S PEAK < <(run_pipeline "$NAAP_BIN" "$WORK/lake" after)

echo "== live: 30 s at one message per orchestrator and second, latency from /metrics"
LIVE="bench-live-$RUN"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$NAAP_BIN" emit --brokers "$BROKERS" --topic "$LIVE" --partitions 8 --simulate "$ORCHS" \
  --backfill 0s --duration 1s --batch-span 1s >/dev/null 2>&1
"$NAAP_BIN" pipeline --brokers "$BROKERS" --topic "$LIVE" --lake "$WORK/live" --group-id "bench-live-$RUN" \
  --metrics-addr "127.0.0.1:$PORT" --compact-every 0s >/dev/null 2>"$WORK/live.log" &
LIVE_PID=$!
PIDS+=($LIVE_PID)
"$NAAP_BIN" emit --brokers "$BROKERS" --topic "$LIVE" --partitions 8 --simulate "$ORCHS" \
  --backfill 0s --duration 30s --batch-span 1s >/dev/null 2>&1
sleep 3
METRICS=$(curl -s "http://127.0.0.1:$PORT/metrics")
kill -INT $LIVE_PID; wait $LIVE_PID || true
P50=$(echo "$METRICS" | awk -F' ' '/^naap_pipeline_queryable_seconds\{quantile="0.5"\}/ {print $2}')
P99=$(echo "$METRICS" | awk -F' ' '/^naap_pipeline_queryable_seconds\{quantile="0.99"\}/ {print $2}')

python3 - "$EVENTS" "$MESSAGES" "$RAW_S" "$PIPE_S" "$CONSUME_S" "$PEAK" "$P50" "$P99" <<'PY'
import sys
events, messages, raw_s, pipe_s, consume_s, peak, p50, p99 = sys.argv[1:]
events, messages, raw_s, pipe_s, consume_s = int(events), int(messages), float(raw_s), float(pipe_s), float(consume_s)
a, b, c = events / raw_s, events / pipe_s, events / consume_s
print(f"events {events}, messages {messages} (~{events // messages} events each)")
print(f"(a) raw consumption: {raw_s:.2f} s, {a:,.0f} events/s")
print(f"(b) pipeline:        {pipe_s:.2f} s from process start, {b:,.0f} events/s, peak RSS {peak} MiB")
print(f"    from assignment: {consume_s:.2f} s, {c:,.0f} events/s")
print(f"b/a = {c / a:.2f} (from assignment)")
print(f"live message-to-queryable latency: p50 {p50} s, p99 {p99} s")
PY
