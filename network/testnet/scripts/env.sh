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
find_fabric() {
  if [ -n "${FABRIC_BIN:-}" ]; then
    export PATH="$FABRIC_BIN:$PATH"
  fi
  local missing=()
  for p in peer orderer configtxgen cryptogen osnadmin; do
    command -v "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "SKIP: Fabric binaries not found (${missing[*]}); set FABRIC_BIN to the bin/ of a Fabric v3.1 release" >&2
    return 1
  fi
  FABRIC_HOME=$(cd "$(dirname "$(command -v peer)")/.." && pwd)
  BUILDERS=${FABRIC_BUILDERS:-$FABRIC_HOME/builders/ccaas}
  FABRIC_CONFIG=${FABRIC_CONFIG:-$FABRIC_HOME/config}
  for f in "$BUILDERS/bin/detect" "$BUILDERS/bin/build" "$BUILDERS/bin/release" "$FABRIC_CONFIG/core.yaml" "$FABRIC_CONFIG/orderer.yaml"; do
    [ -e "$f" ] || { echo "SKIP: $f not found (a Fabric release has builders/ccaas/bin and config/ beside bin/)" >&2; return 1; }
  done
}

ORDERER_DIR=$CRYPTO/ordererOrganizations/example.com
ORDERER_CA=$ORDERER_DIR/orderers/orderer.example.com/tls/ca.crt
ORDERER_ADMIN_TLS=$ORDERER_DIR/users/Admin@example.com/tls

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

wait_port() {
  for _ in $(seq 200); do
    (exec 3<>/dev/tcp/${1%:*}/${1#*:}) 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on $1" >&2
  return 1
}
