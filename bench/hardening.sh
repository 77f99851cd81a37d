#!/usr/bin/env bash
# Memory of `naap demo` under the attacks of tests/interop/test_hardening.py:
# RSS when ready, the peak over the attacks (VmHWM), and RSS while the demo
# keeps running for SETTLE seconds after them (BENCHMARKS.md, "Hardening").
#
#   bench/hardening.sh [SETTLE_SECONDS]     (default 180)
#
# Runs the binary at $NAAP_BIN, or the one `cargo test` builds.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${NAAP_VENV:-$HOME/.cache/naap-venv}
export NAAP_BIN=${NAAP_BIN:-${CARGO_TARGET_DIR:-target}/debug/naap}
export NAAP_HARDENING_SETTLE=${1:-180}
[[ -x "$NAAP_BIN" ]] || { echo "no naap binary at $NAAP_BIN (build it, or set NAAP_BIN)" >&2; exit 1; }
"$VENV/bin/python" -m pytest -q -s tests/interop/test_hardening.py 2>&1 | grep -E "hardening RSS|passed|failed"
