#!/usr/bin/env bash
# Build (once) and cache a pinned Kubo binary from its Go module.
# Kubo >= 0.40 cannot be built with `go install pkg@version` because its go.mod has
# `exclude` lines, so we download the module and build ./cmd/ipfs inside it.
# Prints the path of the cached binary on stdout.
set -euo pipefail
KUBO_VERSION="${NFTREG_KUBO_VERSION:-v0.41.0}"
CACHE="${NFTREG_CACHE_DIR:-$HOME/.cache/nftreg}/kubo-${KUBO_VERSION}"
BIN="$CACHE/ipfs"
if [ -x "$BIN" ] && "$BIN" version >/dev/null 2>&1; then
  echo "$BIN"; exit 0
fi
mkdir -p "$CACHE"
DIR=$(go mod download -json "github.com/ipfs/kubo@${KUBO_VERSION}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
BUILD=$(mktemp -d)
# the module cache is read-only; build in a writable copy
cp -r "$DIR"/. "$BUILD"/
chmod -R u+w "$BUILD"
( cd "$BUILD" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -o "$BIN.tmp" ./cmd/ipfs ) >&2
mv "$BIN.tmp" "$BIN"
rm -rf "$BUILD"
echo "$BIN"
