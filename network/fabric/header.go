package fabric

import (
	"crypto/sha256"
	"encoding/asn1"
	"math/big"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
)

// BlockHeaderHash is Fabric's block hash: SHA-256 over the ASN.1 DER
// sequence (number, previous hash, data hash), as protoutil computes it.
func BlockHeaderHash(h *common.BlockHeader) []byte {
	der, err := asn1.Marshal(struct {
		Number       *big.Int
		PreviousHash []byte
		DataHash     []byte
	}{new(big.Int).SetUint64(h.GetNumber()), h.GetPreviousHash(), h.GetDataHash()})
	if err != nil {
		return nil
	}
	sum := sha256.Sum256(der)
	return sum[:]
}
