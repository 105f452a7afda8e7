#!/usr/bin/env bash
# Stops every process the test network started and removes its state.
source "$(dirname "$0")/env.sh"
if [ -d "$RUN/pids" ]; then
  for f in "$RUN"/pids/*; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  sleep 0.5
  for f in "$RUN"/pids/*; do
    [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true
  done
fi
rm -rf "$RUN"
echo "test network down"
