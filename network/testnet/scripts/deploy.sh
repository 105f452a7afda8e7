#!/usr/bin/env bash
# (Re)deploys the chaincode as a service: packages a CCaaS package whose
# connection.json points at `anchorfs chaincode serve`, installs it on both
# peers, starts the service with the package id, and approves and commits it
# with the next sequence.
source "$(dirname "$0")/env.sh"
find_fabric || exit 0
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

for n in 1 2; do
  as_admin "$n" peer lifecycle chaincode install "$pkg" >> "$RUN/logs/lifecycle.log" 2>&1 || true
done
pkgid=$(as_admin 1 peer lifecycle chaincode calculatepackageid "$pkg")

# The chaincode service, with this package's id.
if [ -f "$RUN/pids/chaincode" ]; then kill "$(cat "$RUN/pids/chaincode")" 2>/dev/null || true; sleep 0.3; fi
CHAINCODE_ID=$pkgid CHAINCODE_SERVER_ADDRESS=$CC_ADDRESS nohup "$ROOT/bin/anchorfs" chaincode serve > "$RUN/logs/chaincode.log" 2>&1 &
echo $! > "$RUN/pids/chaincode"
wait_port "$CC_ADDRESS"

orderer=(-o 127.0.0.1:7050 --ordererTLSHostnameOverride orderer.example.com --tls --cafile "$ORDERER_CA")
for n in 1 2; do
  as_admin "$n" peer lifecycle chaincode approveformyorg "${orderer[@]}" --channelID "$CHANNEL" --name "$CC_NAME" \
    --version "$seq" --package-id "$pkgid" --sequence "$seq" >> "$RUN/logs/lifecycle.log" 2>&1
done
org_env 1; p1=(--peerAddresses "$PEER_ADDR" --tlsRootCertFiles "$PEER_CA")
org_env 2; p2=(--peerAddresses "$PEER_ADDR" --tlsRootCertFiles "$PEER_CA")
for _ in $(seq 20); do
  as_admin 1 peer lifecycle chaincode commit "${orderer[@]}" --channelID "$CHANNEL" --name "$CC_NAME" \
    --version "$seq" --sequence "$seq" "${p1[@]}" "${p2[@]}" >> "$RUN/logs/lifecycle.log" 2>&1 && break
  sleep 0.5
done
as_admin 1 peer lifecycle chaincode querycommitted -C "$CHANNEL" -n "$CC_NAME" >/dev/null 2>&1
touch "$RUN/deployed"
echo "chaincode $CC_NAME sequence $seq committed (package $pkgid)"
