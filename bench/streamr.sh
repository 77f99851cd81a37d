#!/usr/bin/env bash
# The Streamr transport on the offline network (streamr/src/env.mjs), with
# the real SDK in naap's sidecars:
#
#   bench/streamr.sh [ORCHESTRATORS] [MINUTES]
#
# 1. sidecar to sidecar (streamr/test/bench.mjs): 5 KB messages (one agent
#    message of a node's heartbeat is 3-5 KB) at 40/s (200 orchestrators'
#    agents each sending every 5 s: the network's rate) and as fast as
#    acknowledged: messages/s, p50/p99 from the PUBLISH frame to the
#    MESSAGE frame, each sidecar's RSS and CPU;
# 2. end to end: `naap emit --transport streamr` of ORCHESTRATORS (default
#    200) simulated orchestrators over MINUTES (default 10) of event time,
#    signed, into a `naap pipeline --source streamr://…` subscribed to the
#    stream: events/s from the agent's start to the pipeline's commit of
#    the last event, and the agent's and its sidecar's peak RSS.
#
# Needs `npm ci` in streamr/. Uses $NAAP_BIN (default: the dev build).
set -euo pipefail
ORCHS=${1:-200}
MINUTES=${2:-10}
HERE=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$HERE/target}
NAAP_BIN=${NAAP_BIN:-$TARGET/debug/naap}
WORK=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; sleep 1; rm -rf "$WORK"' EXIT

echo "== sidecar to sidecar, 5 KB messages"
(cd "$HERE/streamr" && node test/bench.mjs 40 30 5000 && node test/bench.mjs 0 20 5000)

echo "== agent -> Streamr -> pipeline: $ORCHS orchestrators x $MINUTES min"
(cd "$HERE/streamr" && exec node src/env.mjs --out "$WORK/network.json") >/dev/null 2>&1 &
PIDS+=($!)
until [ -s "$WORK/network.json" ]; do sleep 0.2; done
STREAM=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["stream"])' "$WORK/network.json")
# Hardhat account 0: a well-known development key, never real funds.
export NAAP_BENCH_KEY=ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
OPERATOR=0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266
BINDINGS=()
for o in $("$NAAP_BIN" emit --describe --simulate "$ORCHS" | python3 -c 'import json,sys; print(" ".join(o["address"] for o in json.load(sys.stdin)["orchestrators"]))'); do
  BINDINGS+=(--signer-binding "$OPERATOR=$o")
done
NAAP_LOG=info "$NAAP_BIN" pipeline --source "streamr://$STREAM" --streamr-network "$WORK/network.json" \
  --streamr-loopback-only --lake "$WORK/lake" --commit-interval 1s --stop-after-idle 15s \
  --require-signatures all "${BINDINGS[@]}" >"$WORK/pipeline.out" 2>"$WORK/pipeline.log" &
PIPELINE=$!
PIDS+=($PIPELINE)
until grep -q "subscribed to the Streamr stream" "$WORK/pipeline.log"; do sleep 0.2; done
START=$(date +%s%3N)
NAAP_LOG=info "$NAAP_BIN" emit --simulate "$ORCHS" --from 1767906000000 --span "${MINUTES}m" \
  --signing-key-env NAAP_BENCH_KEY --transport streamr --streamr-network "$WORK/network.json" \
  --streamr-loopback-only --spool-dir "$WORK/spool" --flush-timeout 600s >"$WORK/emit.out" 2>"$WORK/emit.log" &
AGENT=$!
AGENT_PEAK=0; SIDECAR_PEAK=0
while kill -0 $AGENT 2>/dev/null; do
  a=$(awk '/VmRSS/ {print $2}' /proc/$AGENT/status 2>/dev/null || echo 0)
  s=$(pgrep -f "$WORK/spool/streamr.sock" | head -1 || true)
  s=$([ -n "$s" ] && awk '/VmRSS/ {print $2}' /proc/$s/status 2>/dev/null || echo 0)
  [ "${a:-0}" -gt "$AGENT_PEAK" ] && AGENT_PEAK=$a
  [ "${s:-0}" -gt "$SIDECAR_PEAK" ] && SIDECAR_PEAK=$s
  sleep 0.2
done
wait $AGENT
cat "$WORK/emit.out"
EVENTS=$(sed -n 's/.*messages, \([0-9]*\) events.*/\1/p' "$WORK/emit.out")
last_commit() { ls "$WORK/lake/_naap/commits/" 2>/dev/null | grep -E '^[0-9]+\.json$' | tail -1; }
while :; do
  f=$(last_commit)
  if [ -n "$f" ]; then
    got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["events_in"])' "$WORK/lake/_naap/commits/$f")
    [ "$got" -ge "$EVENTS" ] && break
  fi
  kill -0 $PIPELINE 2>/dev/null || { echo "the pipeline stopped with $got of $EVENTS events"; exit 1; }
  sleep 0.2
done
END=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["committed_at_ms"])' "$WORK/lake/_naap/commits/$(last_commit)")
python3 - "$EVENTS" "$START" "$END" "$AGENT_PEAK" "$SIDECAR_PEAK" <<'PY'
import sys
events, start, end, agent, sidecar = map(int, sys.argv[1:])
s = (end - start) / 1000
print(f"{events} events from the agent's start to the pipeline's commit in {s:.1f} s: {events / s:,.0f} events/s; "
      f"peak RSS: agent {agent / 1024:.0f} MiB, its sidecar {sidecar / 1024:.0f} MiB")
PY
