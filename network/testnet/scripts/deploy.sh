#!/usr/bin/env bash
# (Re)deploys the chaincode as a service: packages a CCaaS package whose
# connection.json points at `anchorfs chaincode serve`, installs it on both
# peers, starts the service with the package id, and approves and commits it
# with the next sequence.
source "$(dirname "$0")/env.sh"
find_fabric || exit 1
mkdir -p "$RUN/chaincode" "$RUN/pids" "$RUN/logs"
[ -x "$ROOT/bin/anchorfs" ] || (cd "$ROOT" && go build -o bin/anchorfs ./cmd/anchorfs)

# The sequence to commit: one more than what the channel has.
seq=1
if committed=$(as_admin 1 peer lifecycle chaincode querycommitted -C "$CHANNEL" -n "$CC_NAME" -O json 2>/dev/null); then
  seq=$(( $(echo "$committed" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sequence"])') + 1 ))
fi
label=${CC_NAME}_$seq
pkg=$RUN/chaincode/$label.tar.gz
work=$(mktemp -d)
printf '{"address": "%s", "dial_timeout": "10s", "tls_required": false}\n' "$CC_ADDRESS" > "$work/connection.json"
printf '{"type": "ccaas", "label": "%s"}\n' "$label" > "$work/metadata.json"
tar -C "$work" -czf "$work/code.tar.gz" connection.json
tar -C "$work" -czf "$pkg" metadata.json code.tar.gz
rm -rf "$work"

# Installed on both peers (a second install of the same package fails: what
# counts is that the peer has it).
pkgid=$(as_admin 1 peer lifecycle chaincode calculatepackageid "$pkg")
for n in 1 2; do
  as_admin "$n" peer lifecycle chaincode install "$pkg" >> "$RUN/logs/lifecycle.log" 2>&1 ||
    as_admin "$n" peer lifecycle chaincode queryinstalled 2>&1 | grep -qF "$pkgid" ||
    { echo "installing $label on Org$n's peer failed; see $RUN/logs/lifecycle.log" >&2; exit 1; }
done

# The chaincode service, with this package's id.
if [ -f "$RUN/pids/chaincode" ]; then
  kill "$(cat "$RUN/pids/chaincode")" 2>/dev/null || true
  for _ in $(seq 100); do listening "$CC_ADDRESS" || break; sleep 0.05; done
fi
CHAINCODE_ID=$pkgid CHAINCODE_SERVER_ADDRESS=$CC_ADDRESS nohup "$ROOT/bin/anchorfs" chaincode serve > "$RUN/logs/chaincode.log" 2>&1 &
echo $! > "$RUN/pids/chaincode"
wait_port "$CC_ADDRESS"

# Lifecycle transactions go to the first orderer. Right after a start the
# Raft cluster may still be electing its leader: each step is retried.
orderer_env 1
orderer=(-o "$ORDERER_ADDR" --ordererTLSHostnameOverride "$ORDERER_HOST" --tls --cafile "$ORDERER_CA")
retry() {
  local what=$1; shift
  for _ in $(seq 40); do
    "$@" >> "$RUN/logs/lifecycle.log" 2>&1 && return 0
    sleep 0.5
  done
  echo "$what failed; see $RUN/logs/lifecycle.log" >&2
  return 1
}
for n in 1 2; do
  retry "approving the chaincode for Org$n" as_admin "$n" peer lifecycle chaincode approveformyorg "${orderer[@]}" \
    --channelID "$CHANNEL" --name "$CC_NAME" --version "$seq" --package-id "$pkgid" --sequence "$seq"
done
org_env 1; p1=(--peerAddresses "$PEER_ADDR" --tlsRootCertFiles "$PEER_CA")
org_env 2; p2=(--peerAddresses "$PEER_ADDR" --tlsRootCertFiles "$PEER_CA")
retry "committing the chaincode" as_admin 1 peer lifecycle chaincode commit "${orderer[@]}" --channelID "$CHANNEL" \
  --name "$CC_NAME" --version "$seq" --sequence "$seq" "${p1[@]}" "${p2[@]}"
# Both peers have the definition once the commit's block reached them.
for n in 1 2; do
  retry "Org$n's peer seeing the chaincode's definition" as_admin "$n" peer lifecycle chaincode querycommitted \
    -C "$CHANNEL" -n "$CC_NAME"
done
# Org1's User1 operates the ledger's token (mints, sets prices), claimed
# before anyone else can (a no-op on a redeploy).
retry "claiming the ledger's token for Org1's User1" as_user 1 1 peer chaincode invoke "${orderer[@]}" \
  --channelID "$CHANNEL" --name "$CC_NAME" "${p1[@]}" "${p2[@]}" --waitForEvent -c '{"Args":["Tokens:Claim"]}'
touch "$RUN/deployed"
echo "chaincode $CC_NAME sequence $seq committed (package $pkgid)"
