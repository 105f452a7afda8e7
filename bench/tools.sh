#!/usr/bin/env bash
# Builds the file systems make bench puts beside anchorfs, from the Go module
# proxy, into a cache outside the repo, once per version, and prints where
# they are (NAME=PATH lines):
#   gocryptfs v2.4.0 (the proxy refuses listing its versions: the module is
#                    downloaded by its exact version and built in place,
#                    without OpenSSL)
#   rclone   the version go.mod names (for its crypt remote and mount)
#
#   BENCH_CACHE  where to keep them (default: the user cache folder)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/anchorfs-bench}
GOCRYPTFS_VERSION=v2.4.0
RCLONE_VERSION=$(cd "$ROOT" && go list -m -f '{{.Version}}' github.com/rclone/rclone)
mkdir -p "$CACHE"

gocryptfs=$CACHE/gocryptfs-$GOCRYPTFS_VERSION/gocryptfs
if [ ! -x "$gocryptfs" ]; then
  echo "building gocryptfs $GOCRYPTFS_VERSION into $(dirname "$gocryptfs")" >&2
  dir=$(go mod download -json "github.com/rfjakob/gocryptfs/v2@$GOCRYPTFS_VERSION" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  (cd "$dir" && GOFLAGS=-mod=mod go build -tags without_openssl \
     -ldflags "-X main.GitVersion=$GOCRYPTFS_VERSION" -o "$gocryptfs.tmp" .)
  mv "$gocryptfs.tmp" "$gocryptfs"
fi

rclone=$CACHE/rclone-$RCLONE_VERSION/rclone
if [ ! -x "$rclone" ]; then
  echo "building rclone $RCLONE_VERSION into $(dirname "$rclone")" >&2
  mkdir -p "$(dirname "$rclone")"
  (cd "$ROOT" && go build -o "$rclone.tmp" github.com/rclone/rclone)
  mv "$rclone.tmp" "$rclone"
fi

echo "GOCRYPTFS=$gocryptfs"
echo "RCLONE=$rclone"
