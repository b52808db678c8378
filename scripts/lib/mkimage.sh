#!/bin/sh
# Writes a one-layer OCI image layout (tag given, default v1) into DIR, with coreutils only,
# so the demo and the tests can push a real image without network access.
# Usage: scripts/lib/mkimage.sh DIR [TAG] [TEXT]
set -eu
dir=$1; tag=${2:-v1}; text=${3:-hello from docker-credential-harbor}
mkdir -p "$dir/blobs/sha256"
work=$(mktemp -d "${TMPDIR:-/tmp}/mkimage.XXXXXX")
trap 'rm -rf "$work"' EXIT
printf '%s\n' "$text" > "$work/hello.txt"
tar -C "$work" --owner=0 --group=0 --numeric-owner --mtime=@0 --format=ustar -cf "$work/layer.tar" hello.txt
diff_id=$(sha256sum < "$work/layer.tar" | cut -d' ' -f1)
gzip -n -c "$work/layer.tar" > "$work/layer.tar.gz"
# put FILE: store FILE as a blob and print "DIGEST SIZE"
put() { d=$(sha256sum < "$1" | cut -d' ' -f1); cp "$1" "$dir/blobs/sha256/$d"; echo "$d $(wc -c < "$1" | tr -d ' ')"; }
set -- $(put "$work/layer.tar.gz"); layer=$1; layer_size=$2
printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
  "$diff_id" > "$work/config.json"
set -- $(put "$work/config.json"); config=$1; config_size=$2
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
  "$config" "$config_size" "$layer" "$layer_size" > "$work/manifest.json"
set -- $(put "$work/manifest.json"); manifest=$1; manifest_size=$2
printf '{"imageLayoutVersion":"1.0.0"}' > "$dir/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
  "$manifest" "$manifest_size" "$tag" > "$dir/index.json"
