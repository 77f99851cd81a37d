#!/usr/bin/env bash
# Checks deploy/naap-emit.service with `systemd-analyze verify` (Debian's
# systemd package, installed when missing and root): the unit must parse
# without a single warning, with ExecStart pointing at a real naap-emit
# binary (the one given, standing in for /usr/bin/naap-emit).
#
#   deploy/verify.sh PATH/TO/naap-emit
set -euo pipefail
BIN=${1:?usage: $0 PATH/TO/naap-emit}
HERE=$(cd "$(dirname "$0")" && pwd)
if ! command -v systemd-analyze >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]]; then
    apt-get install -y -qq systemd >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq systemd >/dev/null; }
  else
    echo "systemd-analyze is missing and this is not root: install Debian's systemd package" >&2
    exit 1
  fi
fi
[[ -x "$BIN" ]] || { echo "$BIN is not an executable naap-emit" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
sed "s#^ExecStart=/usr/bin/naap-emit #ExecStart=$(realpath "$BIN") #" "$HERE/naap-emit.service" > "$WORK/naap-emit.service"
grep -q "^ExecStart=$(realpath "$BIN") " "$WORK/naap-emit.service" || { echo "ExecStart no longer names /usr/bin/naap-emit" >&2; exit 1; }
# The flags the unit passes must be flags naap-emit takes.
flags=$(sed -n 's#^ExecStart=[^ ]* ##p' "$WORK/naap-emit.service" | grep -o -- '--[a-z-]*')
for flag in $flags; do
  "$BIN" --help | grep -q -- "$flag" || { echo "naap-emit has no flag $flag" >&2; exit 1; }
done
out=$(systemd-analyze verify "$WORK/naap-emit.service" 2>&1) || { echo "$out" >&2; exit 1; }
if [[ -n "$out" ]]; then
  echo "systemd-analyze verify warns:" >&2
  echo "$out" >&2
  exit 1
fi
echo "deploy/naap-emit.service: systemd-analyze verify clean ($(systemd-analyze --version | head -1))"
