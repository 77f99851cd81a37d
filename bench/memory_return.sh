#!/usr/bin/env bash
# Memory of `naap serve` over a lake of 10^5 orchestrators' capability
# snapshots while /v1/requests/orchestrators is asked for, 3 times in a row
# and then 12 at once: RSS when ready, after each, the peak (VmHWM), and
# RSS 2, 10 and 30 s after (BENCHMARKS.md, "Memory returned").
#
#   bench/memory_return.sh [ORCHESTRATORS]     (default 100000)
#
# Runs the binary at $NAAP_BIN, or the one `cargo test` builds.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${NAAP_VENV:-$HOME/.cache/naap-venv}
NAAP_BIN=${NAAP_BIN:-${CARGO_TARGET_DIR:-target}/debug/naap}
N=${1:-100000}
[[ -x "$NAAP_BIN" ]] || { echo "no naap binary at $NAAP_BIN (build it, or set NAAP_BIN)" >&2; exit 1; }
WORK=$(mktemp -d -t naap-memory-XXXXXX)
trap 'kill "$SERVE" 2>/dev/null || true; rm -rf "$WORK"' EXIT
"$VENV/bin/python" -c "
import sys; sys.path.insert(0, 'tests/interop')
from test_attacks_server import capability_events
open('$WORK/caps.ndjson', 'w').write('\n'.join(capability_events($N)) + '\n')"
"$NAAP_BIN" replay --input "$WORK/caps.ndjson" --format livepeer-json --lake "$WORK/lake" >/dev/null 2>&1
PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
NAAP_LOG=warn "$NAAP_BIN" serve --lake "$WORK/lake" --http-addr "127.0.0.1:$PORT" --flight-addr 127.0.0.1:0 &
SERVE=$!
sleep 3
rss() { awk '/^VmRSS/ {printf "%d MB", $2 / 1024}' "/proc/$SERVE/status"; }
URL="http://127.0.0.1:$PORT/v1/requests/orchestrators?start=2020-01-01T00:00:00Z&end=2030-01-01T00:00:00Z"
echo "ready: $(rss)"
for i in 1 2 3; do
  took=$( { /usr/bin/time -f %e curl -s -o /dev/null -w '%{http_code}' "$URL" >"$WORK/status"; } 2>&1 )
  echo "request $i: $(cat "$WORK/status") in ${took} s, RSS $(rss)"
done
CURLS=()
for i in $(seq 12); do curl -s -o "$WORK/answer$i" -w '%{http_code}\n' "$URL" >"$WORK/status$i" & CURLS+=($!); done
wait "${CURLS[@]}"
for i in $(seq 12); do
  code=$(cat "$WORK/status$i")
  [[ $code == 200 ]] && echo 200 || echo "$code $(grep -o '"reason":"[a-z_]*"' "$WORK/answer$i")"
done | sort | uniq -c | sed 's/^/12 at once: /'
awk '/^VmHWM/ {printf "peak: %d MB\n", $2 / 1024}' "/proc/$SERVE/status"
for s in 2 8 20; do sleep "$s"; echo "after +${s}s: $(rss)"; done
