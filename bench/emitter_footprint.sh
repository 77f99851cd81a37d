#!/usr/bin/env bash
# Measures the node agent's footprint: `naap emit` at default intervals with
# 8 fake GPUs, the host collector, 20 HTTP probe targets and a metrics
# scrape, publishing through its spool to a Kafka-API broker.
#
#   bench/emitter_footprint.sh BROKERS [SECONDS]
#
# Prints the resident set size and the CPU share of one core over the run,
# read from /proc/<pid>, with the RSS split into anonymous memory (heap,
# stacks: the agent's own) and file-backed pages (its code, shared and
# reclaimable). Uses $NAAP_BIN (default: the `agent` profile's `naap-emit`,
# what the Debian package and the container image ship: `cargo build
# --profile agent -p naap-emitter`); NAAP_BIN=…/naap measures the
# all-in-one binary's `naap emit`.
set -euo pipefail
BROKERS=${1:?usage: $0 BROKERS [SECONDS]}
SECONDS_TO_RUN=${2:-120}
NAAP_BIN=${NAAP_BIN:-${CARGO_TARGET_DIR:-target}/agent/naap-emit}
WORK=$(mktemp -d)
trap 'kill $SERVER $EMITTER 2>/dev/null || true; rm -rf "$WORK"' EXIT

mkdir -p "$WORK/www"
printf '# TYPE livepeer_current_sessions_total gauge\nlivepeer_current_sessions_total 3\n# TYPE livepeer_max_sessions_total gauge\nlivepeer_max_sessions_total 10\n' > "$WORK/www/metrics"
echo ok > "$WORK/www/ok"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$WORK/www" >/dev/null 2>&1 &
SERVER=$!
sleep 1
PROBES=()
for i in $(seq 1 20); do PROBES+=(--probe "http://127.0.0.1:$PORT/ok?target=$i"); done
EMIT=("$NAAP_BIN")
if [[ "$(basename "$NAAP_BIN")" == naap ]]; then EMIT+=(emit); fi
NAAP_LOG=warn "${EMIT[@]}" --brokers "$BROKERS" --topic naap.footprint \
  --orchestrator 0x00000000000000000000000000000000000000aa --node-id bench --region eu-west \
  --fake-gpus 8 "${PROBES[@]}" --scrape-url "http://127.0.0.1:$PORT/metrics" \
  --spool-dir "$WORK/spool" >"$WORK/emit.log" 2>&1 &
EMITTER=$!
sleep 10   # start-up (topic creation, first reads) is not the steady state
kill -0 "$EMITTER" 2>/dev/null || { echo "the emitter exited:"; cat "$WORK/emit.log"; exit 1; }
ticks() { awk '{print $14 + $15}' "/proc/$EMITTER/stat"; }
HZ=$(getconf CLK_TCK)
t0=$(ticks); s0=$(date +%s.%N)
sleep "$SECONDS_TO_RUN"
t1=$(ticks); s1=$(date +%s.%N)
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$EMITTER/status")
hwm_kb=$(awk '/VmHWM/ {print $2}' "/proc/$EMITTER/status")
anon_kb=$(awk '/RssAnon/ {print $2}' "/proc/$EMITTER/status")
file_kb=$(awk '/RssFile/ {print $2}' "/proc/$EMITTER/status")
python3 - "$t0" "$t1" "$s0" "$s1" "$HZ" "$rss_kb" "$hwm_kb" "$anon_kb" "$file_kb" <<'PY'
import sys
t0, t1, s0, s1, hz, rss, hwm, anon, file = map(float, sys.argv[1:])
cpu = (t1 - t0) / hz / (s1 - s0) * 100
print(f"steady state over {s1 - s0:.0f} s: CPU {cpu:.2f} % of one core, RSS {rss / 1024:.1f} MiB "
      f"(peak {hwm / 1024:.1f} MiB; anonymous {anon / 1024:.1f} MiB, file-backed {file / 1024:.1f} MiB)")
PY
echo "messages still in the spool at the end: $(find "$WORK/spool" -name '*.msg' | wc -l)"
