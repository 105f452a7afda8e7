# Shared settings of the test network scripts: where Fabric's programs are,
# where the network keeps its state, and the ports on 127.0.0.1.
set -euo pipefail
TESTNET=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=$(cd "$TESTNET/../.." && pwd)
RUN=$TESTNET/run
CRYPTO=$RUN/crypto
CHANNEL=${CHANNEL:-anchorfs}
CC_NAME=${CC_NAME:-anchorfs}
CC_ADDRESS=${CC_ADDRESS:-127.0.0.1:9999}

# Fabric's programs: FABRIC_BIN (the release archive's bin/), else PATH, as
# the Fabric samples take them. The builders sit beside bin/ in a release.
# On failure FABRIC_MISSING says what is missing and find_fabric returns 1.
find_fabric() {
  FABRIC_MISSING=
  if [ -n "${FABRIC_BIN:-}" ]; then
    export PATH="$FABRIC_BIN:$PATH"
  fi
  local missing=()
  for p in peer orderer configtxgen cryptogen osnadmin; do
    command -v "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    FABRIC_MISSING="Fabric binaries not found: ${missing[*]} (FABRIC_BIN=${FABRIC_BIN:-unset}, not on PATH either); set FABRIC_BIN to the bin/ of a Fabric v3.1 release"
    echo "$FABRIC_MISSING" >&2
    return 1
  fi
  FABRIC_HOME=$(cd "$(dirname "$(command -v peer)")/.." && pwd)
  BUILDERS=${FABRIC_BUILDERS:-$FABRIC_HOME/builders/ccaas}
  FABRIC_CONFIG=${FABRIC_CONFIG:-$FABRIC_HOME/config}
  for f in "$BUILDERS/bin/detect" "$BUILDERS/bin/build" "$BUILDERS/bin/release" "$FABRIC_CONFIG/core.yaml" "$FABRIC_CONFIG/orderer.yaml"; do
    if [ ! -e "$f" ]; then
      FABRIC_MISSING="$f not found (a Fabric release has builders/ccaas/bin and config/ beside bin/)"
      echo "$FABRIC_MISSING" >&2
      return 1
    fi
  done
}

# The ordering service: ORDERERS Raft nodes, 1 (the default) or 3. Unset, it
# is the count of the network that is up (run/orderers).
RUNNING_ORDERERS=$(cat "$RUN/orderers" 2>/dev/null || true)
ORDERERS=${ORDERERS:-${RUNNING_ORDERERS:-1}}
case $ORDERERS in
  1|3) ;;
  *) echo "ORDERERS must be 1 or 3, not '$ORDERERS'" >&2; exit 1 ;;
esac

ORDERER_DIR=$CRYPTO/ordererOrganizations/example.com
# One TLS CA signs every orderer's certificate.
ORDERER_CA=$ORDERER_DIR/orderers/orderer.example.com/tls/ca.crt
ORDERER_ADMIN_TLS=$ORDERER_DIR/users/Admin@example.com/tls

# orderer I (1..3): host name, client address, channel participation (admin)
# address, operations address. Each next orderer is 100 ports up.
orderer_env() {
  local i=$1
  local off=$(((i - 1) * 100))
  if [ "$i" = 1 ]; then ORDERER_NAME=orderer; else ORDERER_NAME=orderer$i; fi
  ORDERER_HOST=$ORDERER_NAME.example.com
  ORDERER_ADDR=127.0.0.1:$((7050 + off))
  ORDERER_ADMIN_ADDR=127.0.0.1:$((7053 + off))
  ORDERER_OPS_ADDR=127.0.0.1:$((8443 + off))
  ORDERER_NODE_DIR=$ORDERER_DIR/orderers/$ORDERER_HOST
}

# org N: MSP id, peer address, chaincode port, operations port.
org_env() {
  local n=$1
  local port=$((7051 + (n - 1) * 2000))
  ORG_MSP=Org${n}MSP
  ORG_DOMAIN=org${n}.example.com
  PEER_NAME=peer0.$ORG_DOMAIN
  PEER_ADDR=127.0.0.1:$port
  PEER_CC_ADDR=127.0.0.1:$((port + 1))
  PEER_OPS_ADDR=127.0.0.1:$((9443 + n))
  PEER_DIR=$CRYPTO/peerOrganizations/$ORG_DOMAIN/peers/$PEER_NAME
  PEER_CA=$PEER_DIR/tls/ca.crt
  ADMIN_MSP=$CRYPTO/peerOrganizations/$ORG_DOMAIN/users/Admin@$ORG_DOMAIN/msp
}

# Run a peer CLI command as org N's admin.
as_admin() {
  local n=$1; shift
  org_env "$n"
  FABRIC_LOGGING_SPEC=${FABRIC_LOGGING_SPEC:-error} FABRIC_CFG_PATH=$RUN/peercfg CORE_PEER_LOCALMSPID=$ORG_MSP CORE_PEER_MSPCONFIGPATH=$ADMIN_MSP \
    CORE_PEER_ADDRESS=$PEER_ADDR CORE_PEER_TLS_ENABLED=true CORE_PEER_TLS_ROOTCERT_FILE=$PEER_CA "$@"
}

# Run a peer CLI command as org N's user U (1 or 2).
as_user() {
  local n=$1 u=$2; shift 2
  org_env "$n"
  FABRIC_LOGGING_SPEC=${FABRIC_LOGGING_SPEC:-error} FABRIC_CFG_PATH=$RUN/peercfg CORE_PEER_LOCALMSPID=$ORG_MSP \
    CORE_PEER_MSPCONFIGPATH=$CRYPTO/peerOrganizations/$ORG_DOMAIN/users/User$u@$ORG_DOMAIN/msp \
    CORE_PEER_ADDRESS=$PEER_ADDR CORE_PEER_TLS_ENABLED=true CORE_PEER_TLS_ROOTCERT_FILE=$PEER_CA "$@"
}

# Every address the network listens on, for a check that they are free.
network_ports() {
  local i n
  for i in $(seq "$ORDERERS"); do
    orderer_env "$i"; echo "$ORDERER_ADDR $ORDERER_ADMIN_ADDR $ORDERER_OPS_ADDR"
  done
  for n in 1 2; do
    org_env "$n"; echo "$PEER_ADDR $PEER_CC_ADDR $PEER_OPS_ADDR"
  done
  echo "$CC_ADDRESS"
}

listening() {
  (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null
}

wait_port() {
  for _ in $(seq 200); do
    listening "$1" && return 0
    sleep 0.05
  done
  echo "nothing listens on $1" >&2
  return 1
}

# The processes the network started (pid files under run/pids), alive or not.
network_pids() {
  local f
  for f in "$RUN"/pids/*; do
    [ -f "$f" ] && cat "$f"
  done
  return 0
}
