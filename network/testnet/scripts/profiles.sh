#!/usr/bin/env bash
# Writes a client profile per organisation user: what `anchorfs init --ledger
# fabric:PROFILE` needs to reach the network through the Fabric Gateway.
source "$(dirname "$0")/env.sh"
mkdir -p "$RUN/profiles"
for n in 1 2; do
  org_env "$n"
  user=$CRYPTO/peerOrganizations/$ORG_DOMAIN/users/User1@$ORG_DOMAIN/msp
  cat > "$RUN/profiles/org$n-user1.yaml" <<YAML
# Fabric Gateway profile for User1 of Org$n on the anchorfs test network.
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
