#!/usr/bin/env bash
# Writes a client profile per organisation user: what `anchorfs init --ledger
# fabric:PROFILE` needs to reach the network through the Fabric Gateway.
source "$(dirname "$0")/env.sh"
mkdir -p "$RUN/profiles"
for n in 1 2; do
  org_env "$n"
  for u in 1 2; do
    user=$CRYPTO/peerOrganizations/$ORG_DOMAIN/users/User$u@$ORG_DOMAIN/msp
    cat > "$RUN/profiles/org$n-user$u.yaml" <<YAML
# Fabric Gateway profile for User$u of Org$n on the anchorfs test network.
gateway: $PEER_ADDR
tlsCACert: $PEER_CA
serverName: $PEER_NAME
mspID: $ORG_MSP
certificate: $(ls "$user"/signcerts/*.pem)
privateKey: $(ls "$user"/keystore/*)
channel: $CHANNEL
chaincode: $CC_NAME
YAML
  done
done
