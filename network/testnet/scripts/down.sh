#!/usr/bin/env bash
# Stops every process the test network started (pid files under run/pids)
# and removes its state: TERM, up to five seconds to exit, then KILL.
source "$(dirname "$0")/env.sh"
pids=$(network_pids)
if [ -n "$pids" ]; then
  kill $pids 2>/dev/null || true
  for _ in $(seq 50); do
    alive=
    for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive+=" $pid"; done
    [ -z "$alive" ] && break
    sleep 0.1
  done
  [ -n "$alive" ] && kill -9 $alive 2>/dev/null || true
fi
rm -rf "$RUN"
echo "test network down"
