#!/usr/bin/env bash
# Builds the naap-emit OCI image from scratch, without a Docker daemon or a
# base image: umoci (Debian's package) lays out an empty image and adds one
# layer holding the agent, the shared libraries it links (as `ldd` lists
# them on the build host: glibc, OpenSSL, zlib; the agent loads NVML at run
# time, which a fully static glibc binary cannot do, so it is not static),
# the host's CA bundle, and the same /etc/naap-emit and /var/lib/naap-emit
# as the Debian package. It runs as user 65534 with the spool a volume.
#
#   deploy/image.sh NAAP_EMIT_BINARY OUT_DIR
#
# Writes OUT_DIR/naap-emit-oci (an OCI image layout) and
# OUT_DIR/naap-emit.oci.tar (the same as an oci-archive, for `podman load`).
set -euo pipefail
BIN=${1:?usage: $0 NAAP_EMIT_BINARY OUT_DIR}
OUT=${2:?usage: $0 NAAP_EMIT_BINARY OUT_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
[[ -x "$BIN" ]] || { echo "$BIN is not an executable naap-emit" >&2; exit 1; }
command -v umoci >/dev/null || { echo "umoci is missing: apt-get install umoci" >&2; exit 1; }
VERSION=$("$BIN" --version | awk '{print $2}')
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
LAYOUT="$OUT/naap-emit-oci"
rm -rf "$LAYOUT" "$OUT/naap-emit.oci.tar"
mkdir -p "$OUT"

umoci init --layout "$LAYOUT"
umoci new --image "$LAYOUT:build"
umoci unpack --image "$LAYOUT:build" "$WORK/bundle" >/dev/null
ROOTFS="$WORK/bundle/rootfs"

install -D -m 0755 "$BIN" "$ROOTFS/usr/bin/naap-emit"
strip "$ROOTFS/usr/bin/naap-emit"
for lib in $(ldd "$BIN" | grep -o '/[^ ]*'); do
  install -D -m 0755 "$(readlink -f "$lib")" "$ROOTFS$lib"
done
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
install -D -m 0644 "$HERE/naap-emit/emitter.toml" "$ROOTFS/etc/naap-emit/emitter.toml"
printf 'root:x:0:0:root:/:/nonexistent\nnaap:x:65534:65534:naap-emit:/var/lib/naap-emit:/nonexistent\n' > "$ROOTFS/etc/passwd"
printf 'root:x:0:\nnaap:x:65534:\n' > "$ROOTFS/etc/group"
install -d -m 0755 -o 65534 -g 65534 "$ROOTFS/var/lib/naap-emit"
install -d -m 1777 "$ROOTFS/tmp"

umoci repack --image "$LAYOUT:build" "$WORK/bundle"
umoci config --image "$LAYOUT:build" --tag "$VERSION" \
  --author "naap maintainers" \
  --config.user 65534:65534 \
  --config.workingdir /var/lib/naap-emit \
  --config.env NAAP_LOG=info \
  --config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --config.entrypoint /usr/bin/naap-emit \
  --config.cmd --config --config.cmd /etc/naap-emit/emitter.toml \
  --config.cmd --spool-dir --config.cmd /var/lib/naap-emit/spool \
  --config.volume /var/lib/naap-emit \
  --config.label "org.opencontainers.image.title=naap-emit" \
  --config.label "org.opencontainers.image.version=$VERSION" \
  --config.label "org.opencontainers.image.description=naap node agent"
umoci rm --image "$LAYOUT:build"
umoci gc --layout "$LAYOUT"
# In the archive the image is named naap-emit:<version> (podman load names
# it from this annotation; the layout keeps the bare tag, as OCI tools expect).
cp -r "$LAYOUT" "$WORK/archive"
sed -i "s|\"org.opencontainers.image.ref.name\":\"$VERSION\"|\"org.opencontainers.image.ref.name\":\"naap-emit:$VERSION\"|" "$WORK/archive/index.json"
grep -q "naap-emit:$VERSION" "$WORK/archive/index.json" || { echo "could not name the image in index.json" >&2; exit 1; }
tar -C "$WORK/archive" -cf "$OUT/naap-emit.oci.tar" .
size=$(du -sk "$OUT/naap-emit.oci.tar" | cut -f1)
echo "[image] $LAYOUT (tag $VERSION); $OUT/naap-emit.oci.tar, $((size / 1024)) MiB" >&2
