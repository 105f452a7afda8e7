#!/usr/bin/env bash
# Starts the test network on 127.0.0.1: ORDERERS Raft orderers (1, the
# default, or 3), a peer of Org1 and one of Org2, TLS everywhere, channel
# "anchorfs" created through the channel participation API (osnadmin), and
# the chaincode running as a service, approved by both organisations and
# committed. Idempotent: a running network is left as it is. If a step fails,
# it shows the logs and stops what it started.
source "$(dirname "$0")/env.sh"
find_fabric || exit 1
# The readiness probe (network/testnet/ready), built before the clock starts.
(cd "$ROOT" && go build -o bin/testnet-ready ./network/testnet/ready)
start=$(date +%s.%N)

# Up already when it was deployed and every process it started still runs.
all_running() {
  [ -f "$RUN/deployed" ] || return 1
  local pid
  for pid in $(network_pids); do
    kill -0 "$pid" 2>/dev/null || return 1
  done
}
if all_running; then
  if [ "$ORDERERS" != "$RUNNING_ORDERERS" ]; then
    echo "the test network is up with $RUNNING_ORDERERS orderer(s), not $ORDERERS: make network-down first" >&2
    exit 1
  fi
  echo "the test network is already up ($RUNNING_ORDERERS orderer(s), $RUN)"
  exit 0
fi
"$TESTNET/scripts/down.sh" >/dev/null 2>&1 || true

# Another network (another checkout's, say) would answer in this one's place.
for addr in $(network_ports); do
  if listening "$addr"; then
    echo "$addr is in use by another process: stop it (another checkout's test network?) before make network-up" >&2
    exit 1
  fi
done

mkdir -p "$RUN/pids" "$RUN/logs" "$RUN/profiles" "$RUN/peercfg"
echo "$ORDERERS" > "$RUN/orderers"

failed() {
  echo "the test network did not come up; the last lines of its logs:" >&2
  for f in "$RUN"/logs/*.log; do
    [ -s "$f" ] || continue
    echo "--- ${f#"$RUN"/}" >&2
    tail -n 8 "$f" >&2
  done
  "$TESTNET/scripts/down.sh" >&2
}
trap failed ERR

echo "crypto material"
cryptogen generate --config="$TESTNET/crypto-config.yaml" --output="$CRYPTO" >/dev/null
cp "$TESTNET/configtx.yaml" "$RUN/configtx.yaml"
profile=AnchorfsChannel
[ "$ORDERERS" = 3 ] && profile=AnchorfsChannel3
FABRIC_CFG_PATH=$RUN configtxgen -profile "$profile" -channelID "$CHANNEL" -outputBlock "$RUN/$CHANNEL.block" 2>"$RUN/logs/configtxgen.log"

# The peers' core.yaml: no Docker (vm.endpoint empty in the file itself) and
# the CCaaS builder; the orderers' orderer.yaml as shipped.
sed -e 's#^\(\s*endpoint:\) unix:///var/run/docker.sock#\1 ""#' \
    -e "s#path: /opt/hyperledger/ccaas_builder#path: $BUILDERS#" \
    "$FABRIC_CONFIG/core.yaml" > "$RUN/peercfg/core.yaml"
grep -q "path: $BUILDERS" "$RUN/peercfg/core.yaml" || { echo "could not point core.yaml's CCaaS builder at $BUILDERS" >&2; false; }
cp "$FABRIC_CONFIG/orderer.yaml" "$RUN/orderer.yaml"

# Each orderer serves clients and the other orderers (Raft) on its client
# port, with its TLS certificate as the cluster client certificate: that is
# what the channel's consenter list names. No system channel: it starts with
# no channel and is joined to one through its admin endpoint.
for i in $(seq "$ORDERERS"); do
  orderer_env "$i"
  echo "$ORDERER_NAME ($ORDERER_ADDR)"
  od=$ORDERER_NODE_DIR
  mkdir -p "$RUN/$ORDERER_NAME"
  FABRIC_CFG_PATH=$RUN \
  ORDERER_GENERAL_LISTENADDRESS=${ORDERER_ADDR%:*} ORDERER_GENERAL_LISTENPORT=${ORDERER_ADDR#*:} \
  ORDERER_GENERAL_LOCALMSPID=OrdererMSP ORDERER_GENERAL_LOCALMSPDIR=$od/msp \
  ORDERER_GENERAL_TLS_ENABLED=true ORDERER_GENERAL_TLS_PRIVATEKEY=$od/tls/server.key \
  ORDERER_GENERAL_TLS_CERTIFICATE=$od/tls/server.crt ORDERER_GENERAL_TLS_ROOTCAS="[$od/tls/ca.crt]" \
  ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE=$od/tls/server.crt ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY=$od/tls/server.key \
  ORDERER_GENERAL_CLUSTER_ROOTCAS="[$od/tls/ca.crt]" ORDERER_GENERAL_BOOTSTRAPMETHOD=none \
  ORDERER_CHANNELPARTICIPATION_ENABLED=true \
  ORDERER_ADMIN_LISTENADDRESS=$ORDERER_ADMIN_ADDR ORDERER_ADMIN_TLS_ENABLED=true \
  ORDERER_ADMIN_TLS_PRIVATEKEY=$od/tls/server.key ORDERER_ADMIN_TLS_CERTIFICATE=$od/tls/server.crt \
  ORDERER_ADMIN_TLS_ROOTCAS="[$od/tls/ca.crt]" ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED=true \
  ORDERER_ADMIN_TLS_CLIENTROOTCAS="[$od/tls/ca.crt]" \
  ORDERER_OPERATIONS_LISTENADDRESS=$ORDERER_OPS_ADDR \
  ORDERER_FILELEDGER_LOCATION=$RUN/$ORDERER_NAME/ledger \
  ORDERER_CONSENSUS_WALDIR=$RUN/$ORDERER_NAME/etcdraft/wal ORDERER_CONSENSUS_SNAPDIR=$RUN/$ORDERER_NAME/etcdraft/snapshot \
    nohup orderer > "$RUN/logs/$ORDERER_NAME.log" 2>&1 &
  echo $! > "$RUN/pids/$ORDERER_NAME"
done
for i in $(seq "$ORDERERS"); do
  orderer_env "$i"
  wait_port "$ORDERER_ADMIN_ADDR"
  osnadmin channel join --channelID "$CHANNEL" --config-block "$RUN/$CHANNEL.block" -o "$ORDERER_ADMIN_ADDR" \
    --ca-file "$ORDERER_CA" --client-cert "$ORDERER_ADMIN_TLS/client.crt" --client-key "$ORDERER_ADMIN_TLS/client.key" \
    >> "$RUN/logs/osnadmin.log" 2>&1
done

# Each peer's first gossip contact with the other's anchor peer fails while
# that one is still joining the channel; gossip retries every reconnect
# interval, 25 s by default. Here it retries, and the peers tell each other
# they are alive and which chaincodes they run, every second: the gateways
# learn within seconds that both organisations can endorse.
for n in 1 2; do
  org_env "$n"
  echo "peer of Org$n ($PEER_ADDR)"
  mkdir -p "$RUN/$PEER_NAME"
  FABRIC_CFG_PATH=$RUN/peercfg \
  CORE_PEER_ID=$PEER_NAME CORE_PEER_ADDRESS=$PEER_ADDR CORE_PEER_LISTENADDRESS=$PEER_ADDR \
  CORE_PEER_CHAINCODEADDRESS=$PEER_CC_ADDR CORE_PEER_CHAINCODELISTENADDRESS=$PEER_CC_ADDR \
  CORE_PEER_GOSSIP_BOOTSTRAP=$PEER_ADDR CORE_PEER_GOSSIP_EXTERNALENDPOINT=$PEER_ADDR \
  CORE_PEER_LOCALMSPID=$ORG_MSP CORE_PEER_MSPCONFIGPATH=$PEER_DIR/msp \
  CORE_PEER_TLS_ENABLED=true CORE_PEER_TLS_CERT_FILE=$PEER_DIR/tls/server.crt \
  CORE_PEER_TLS_KEY_FILE=$PEER_DIR/tls/server.key CORE_PEER_TLS_ROOTCERT_FILE=$PEER_DIR/tls/ca.crt \
  CORE_PEER_FILESYSTEMPATH=$RUN/$PEER_NAME/data CORE_LEDGER_SNAPSHOTS_ROOTDIR=$RUN/$PEER_NAME/snapshots \
  CORE_PEER_GOSSIP_RECONNECTINTERVAL=1s CORE_PEER_GOSSIP_ALIVETIMEINTERVAL=1s \
  CORE_PEER_GOSSIP_PUBLISHSTATEINFOINTERVAL=1s CORE_PEER_GOSSIP_REQUESTSTATEINFOINTERVAL=1s \
  CORE_OPERATIONS_LISTENADDRESS=$PEER_OPS_ADDR CORE_METRICS_PROVIDER=disabled \
    nohup peer node start > "$RUN/logs/$PEER_NAME.log" 2>&1 &
  echo $! > "$RUN/pids/$PEER_NAME"
done
for n in 1 2; do
  org_env "$n"
  wait_port "$PEER_ADDR"
  joined=
  for _ in $(seq 50); do
    if as_admin "$n" peer channel join -b "$RUN/$CHANNEL.block" >> "$RUN/logs/join.log" 2>&1; then joined=1; break; fi
    sleep 0.2
  done
  [ -n "$joined" ] || { echo "$PEER_NAME could not join channel $CHANNEL" >&2; false; }
done

"$TESTNET/scripts/deploy.sh"
"$TESTNET/scripts/profiles.sh"
# Up means usable: each organisation's gateway can have a transaction
# endorsed by both organisations, which takes the peers' gossip to know
# each other and each other's chaincode.
echo "waiting for the gateways"
"$ROOT/bin/testnet-ready" -timeout 90s "$RUN"/profiles/*.yaml
trap - ERR

# Resident memory of every process the network runs: the orderers, the
# peers and the chaincode service (ps reports KiB).
pids=$(network_pids | paste -sd, -)
count=$(network_pids | wc -l)
alive=$(ps -o pid= -p "$pids" | wc -l)
if [ "$alive" != "$count" ]; then
  echo "only $alive of the network's $count processes run; see $RUN/logs" >&2
  exit 1
fi
rss=$(ps -o rss= -p "$pids" | awk '{s += $1} END {printf "%.0f", s / 1024}')
printf 'test network up in %.1f s, %s MiB resident (%d processes: %d orderer(s), 2 peers, chaincode service); profiles in %s\n' \
  "$(echo "$(date +%s.%N) - $start" | bc -l)" "$rss" "$count" "$ORDERERS" "$RUN/profiles"
