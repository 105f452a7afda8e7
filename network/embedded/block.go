package embedded

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"time"
)

// Validation codes, as Fabric names them.
const (
	codeValid        = "VALID"
	codeMVCCConflict = "MVCC_READ_CONFLICT"
)

// txRecord is one transaction as a block keeps it.
type txRecord struct {
	TxID      string   `json:"txId"`
	Creator   []byte   `json:"creator"` // a serialized msp.SerializedIdentity
	Args      [][]byte `json:"args"`    // function name first
	Time      int64    `json:"time"`    // ns since the epoch
	Reads     []read   `json:"reads"`
	Writes    []write  `json:"writes"`
	Event     *event   `json:"event,omitempty"`
	Signature []byte   `json:"signature"` // the creator's, over digest()
	Code      string   `json:"code"`
}

type event struct {
	Name    string `json:"name"`
	Payload []byte `json:"payload"`
}

// digest is what a client signs: the transaction before validation.
func (t *txRecord) digest() []byte {
	c := *t
	c.Signature, c.Code = nil, ""
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return sum[:]
}

// blockData is a block's content; its hash is SHA-256 of the JSON.
type blockData struct {
	Number   uint64      `json:"number"`
	PrevHash []byte      `json:"prevHash"`
	Time     int64       `json:"time"`
	NodeKey  []byte      `json:"nodeKey,omitempty"` // the genesis block names the key that signs every block
	Txs      []*txRecord `json:"txs"`
}

func (b *blockData) encode() (data, hash []byte) {
	data, _ = json.Marshal(b)
	sum := sha256.Sum256(data)
	return data, sum[:]
}

func signBlock(key ed25519.PrivateKey, hash []byte) []byte { return ed25519.Sign(key, hash) }

func timeFromNanos(ns int64) time.Time { return time.Unix(0, ns).UTC() }
