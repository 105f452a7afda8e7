#!/usr/bin/env bash
# Starts the test network on 127.0.0.1: an orderer, a peer of Org1 and one of
# Org2, TLS everywhere, channel "anchorfs" created through the channel
# participation API, and the chaincode running as a service, approved by both
# organisations and committed. Idempotent: a running network is left as it is.
source "$(dirname "$0")/env.sh"
find_fabric || exit 0
start=$(date +%s.%N)
if [ -f "$RUN/deployed" ] && kill -0 "$(cat "$RUN/pids/orderer")" 2>/dev/null; then
  echo "the test network is already up ($RUN)"; exit 0
fi
"$TESTNET/scripts/down.sh" >/dev/null 2>&1 || true
mkdir -p "$RUN/pids" "$RUN/logs" "$RUN/profiles" "$RUN/peercfg"

echo "crypto material"
cryptogen generate --config="$TESTNET/crypto-config.yaml" --output="$CRYPTO" >/dev/null
cp "$TESTNET/configtx.yaml" "$RUN/configtx.yaml"
FABRIC_CFG_PATH=$RUN configtxgen -profile AnchorfsChannel -channelID "$CHANNEL" -outputBlock "$RUN/$CHANNEL.block" 2>"$RUN/logs/configtxgen.log"

# The peers' core.yaml: no Docker (vm.endpoint empty in the file itself) and
# the CCaaS builder; the orderer's orderer.yaml as shipped.
sed -e 's#^\(\s*endpoint:\) unix:///var/run/docker.sock#\1 ""#' \
    -e "s#path: /opt/hyperledger/ccaas_builder#path: $BUILDERS#" \
    "$FABRIC_CONFIG/core.yaml" > "$RUN/peercfg/core.yaml"
grep -q "path: $BUILDERS" "$RUN/peercfg/core.yaml" || { echo "could not point core.yaml's CCaaS builder at $BUILDERS" >&2; exit 1; }
cp "$FABRIC_CONFIG/orderer.yaml" "$RUN/orderer.yaml"

echo "orderer"
od=$ORDERER_DIR/orderers/orderer.example.com
mkdir -p "$RUN/orderer"
FABRIC_CFG_PATH=$RUN \
ORDERER_GENERAL_LISTENADDRESS=127.0.0.1 ORDERER_GENERAL_LISTENPORT=7050 \
ORDERER_GENERAL_LOCALMSPID=OrdererMSP ORDERER_GENERAL_LOCALMSPDIR=$od/msp \
ORDERER_GENERAL_TLS_ENABLED=true ORDERER_GENERAL_TLS_PRIVATEKEY=$od/tls/server.key \
ORDERER_GENERAL_TLS_CERTIFICATE=$od/tls/server.crt ORDERER_GENERAL_TLS_ROOTCAS="[$od/tls/ca.crt]" \
ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE=$od/tls/server.crt ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY=$od/tls/server.key \
ORDERER_GENERAL_CLUSTER_ROOTCAS="[$od/tls/ca.crt]" ORDERER_GENERAL_BOOTSTRAPMETHOD=none \
ORDERER_CHANNELPARTICIPATION_ENABLED=true \
ORDERER_ADMIN_LISTENADDRESS=127.0.0.1:7053 ORDERER_ADMIN_TLS_ENABLED=true \
ORDERER_ADMIN_TLS_PRIVATEKEY=$od/tls/server.key ORDERER_ADMIN_TLS_CERTIFICATE=$od/tls/server.crt \
ORDERER_ADMIN_TLS_ROOTCAS="[$od/tls/ca.crt]" ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED=true \
ORDERER_ADMIN_TLS_CLIENTROOTCAS="[$od/tls/ca.crt]" \
ORDERER_OPERATIONS_LISTENADDRESS=127.0.0.1:8443 \
ORDERER_FILELEDGER_LOCATION=$RUN/orderer/ledger \
ORDERER_CONSENSUS_WALDIR=$RUN/orderer/etcdraft/wal ORDERER_CONSENSUS_SNAPDIR=$RUN/orderer/etcdraft/snapshot \
  nohup orderer > "$RUN/logs/orderer.log" 2>&1 &
echo $! > "$RUN/pids/orderer"
wait_port 127.0.0.1:7053
osnadmin channel join --channelID "$CHANNEL" --config-block "$RUN/$CHANNEL.block" -o 127.0.0.1:7053 \
  --ca-file "$ORDERER_CA" --client-cert "$ORDERER_ADMIN_TLS/client.crt" --client-key "$ORDERER_ADMIN_TLS/client.key" >/dev/null

for n in 1 2; do
  org_env "$n"
  echo "peer of Org$n"
  mkdir -p "$RUN/$PEER_NAME"
  FABRIC_CFG_PATH=$RUN/peercfg \
  CORE_PEER_ID=$PEER_NAME CORE_PEER_ADDRESS=$PEER_ADDR CORE_PEER_LISTENADDRESS=$PEER_ADDR \
  CORE_PEER_CHAINCODEADDRESS=$PEER_CC_ADDR CORE_PEER_CHAINCODELISTENADDRESS=$PEER_CC_ADDR \
  CORE_PEER_GOSSIP_BOOTSTRAP=$PEER_ADDR CORE_PEER_GOSSIP_EXTERNALENDPOINT=$PEER_ADDR \
  CORE_PEER_LOCALMSPID=$ORG_MSP CORE_PEER_MSPCONFIGPATH=$PEER_DIR/msp \
  CORE_PEER_TLS_ENABLED=true CORE_PEER_TLS_CERT_FILE=$PEER_DIR/tls/server.crt \
  CORE_PEER_TLS_KEY_FILE=$PEER_DIR/tls/server.key CORE_PEER_TLS_ROOTCERT_FILE=$PEER_DIR/tls/ca.crt \
  CORE_PEER_FILESYSTEMPATH=$RUN/$PEER_NAME/data CORE_LEDGER_SNAPSHOTS_ROOTDIR=$RUN/$PEER_NAME/snapshots \
  CORE_OPERATIONS_LISTENADDRESS=$PEER_OPS_ADDR CORE_METRICS_PROVIDER=disabled \
    nohup peer node start > "$RUN/logs/$PEER_NAME.log" 2>&1 &
  echo $! > "$RUN/pids/$PEER_NAME"
  wait_port "$PEER_ADDR"
  for _ in $(seq 50); do
    as_admin "$n" peer channel join -b "$RUN/$CHANNEL.block" >> "$RUN/logs/join.log" 2>&1 && break
    sleep 0.2
  done
done

"$TESTNET/scripts/deploy.sh"
"$TESTNET/scripts/profiles.sh"

pids=$(cat "$RUN"/pids/* | tr '\n' ',' | sed 's/,$//')
rss=$(ps -o rss= -p "$pids" | awk '{s+=$1} END {printf "%.0f", s/1024}')
printf 'test network up in %.1f s, %s MiB resident (orderer, 2 peers, chaincode); profiles in %s\n' \
  "$(echo "$(date +%s.%N) - $start" | bc -l)" "$rss" "$RUN/profiles"
