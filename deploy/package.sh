#!/usr/bin/env bash
# Builds the naap-emit Debian package: the release agent, its systemd unit,
# /etc/naap-emit/{emitter.toml,env} (conffiles, env mode 0600) and the
# README, described in emitter/Cargo.toml's [package.metadata.deb]. Uses
# cargo-deb, installed from crates.io when missing.
#
#   deploy/package.sh [OUT_DIR]      # prints the .deb's path
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-${CARGO_TARGET_DIR:-$ROOT/target}/debian}
CARGO_DEB_VERSION=3.8.0
if ! cargo deb --version 2>/dev/null | grep -q "$CARGO_DEB_VERSION"; then
  echo "[package] installing cargo-deb $CARGO_DEB_VERSION" >&2
  cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION" --quiet >&2
fi
mkdir -p "$OUT"
cd "$ROOT"
# cargo-deb runs `cargo build --profile agent -p naap-emitter` (Cargo.toml: small
# code, stripped) and packs that binary.
deb=$(cargo deb -p naap-emitter --profile agent --output "$OUT" --quiet | tail -1)
[[ -f "$deb" ]] || { echo "cargo deb wrote no package" >&2; exit 1; }
echo "$deb"
