#!/usr/bin/env bash
# with-network.sh NAME COMMAND...: brings the test network up, runs COMMAND,
# and brings the network down again whatever COMMAND did; exits with
# COMMAND's status. Without Fabric's binaries it prints a SKIP banner naming
# what is missing and exits 0, so that machines without Fabric pass.
source "$(dirname "$0")/env.sh"
name=$1; shift
if ! find_fabric 2>/dev/null; then
  line=$(printf '%*s' 78 '' | tr ' ' '*')
  printf '%s\n*** SKIP %s: %s\n*** (docs/FABRIC.md: Getting Fabric'"'"'s binaries)\n%s\n' "$line" "$name" "$FABRIC_MISSING" "$line"
  exit 0
fi
trap '"$TESTNET/scripts/down.sh"' EXIT
"$TESTNET/scripts/up.sh"
"$@"
