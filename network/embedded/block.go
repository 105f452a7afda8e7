package embedded

import (
	"bytes"
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

	unsigned []byte // the JSON digest hashes, kept by sign for encode
}

type event struct {
	Name    string `json:"name"`
	Payload []byte `json:"payload"`
}

// digest is what a client signs: SHA-256 of the transaction's JSON before
// validation, without a signature or a code.
func (t *txRecord) digest() []byte {
	sum := sha256.Sum256(t.unsignedJSON())
	return sum[:]
}

func (t *txRecord) unsignedJSON() []byte {
	c := *t
	c.Signature, c.Code, c.unsigned = nil, "", nil
	b, _ := json.Marshal(c)
	return b
}

// sign signs the transaction, keeping the JSON it signed for encode.
func (t *txRecord) sign(s Signer) {
	t.unsigned = t.unsignedJSON()
	sum := sha256.Sum256(t.unsigned)
	t.Signature = s.Sign(sum[:])
}

// unsignedTail ends every transaction's unsigned JSON.
const unsignedTail = `"signature":null,"code":""}`

// appendJSON appends the transaction's JSON, as json.Marshal writes it:
// the JSON sign kept, its signature and code put in; or, for one not
// signed here, json.Marshal's.
func (t *txRecord) appendJSON(out []byte) []byte {
	if !bytes.HasSuffix(t.unsigned, []byte(unsignedTail)) {
		b, _ := json.Marshal(t)
		return append(out, b...)
	}
	signature, _ := json.Marshal(t.Signature)
	code, _ := json.Marshal(t.Code)
	out = append(out, t.unsigned[:len(t.unsigned)-len(unsignedTail)]...)
	out = append(append(out, `"signature":`...), signature...)
	out = append(append(out, `,"code":`...), code...)
	return append(out, '}')
}

// blockData is a block's content; its hash is SHA-256 of the JSON.
type blockData struct {
	Number   uint64      `json:"number"`
	PrevHash []byte      `json:"prevHash"`
	Time     int64       `json:"time"`
	NodeKey  []byte      `json:"nodeKey,omitempty"` // the genesis block names the key that signs every block
	Txs      []*txRecord `json:"txs"`
}

// encode returns the block's JSON, as json.Marshal writes it, and its
// hash. Each transaction's JSON is the one it was signed over with its
// signature and code put in (appendJSON), not encoded a second time.
func (b *blockData) encode() (data, hash []byte) {
	head := *b
	head.Txs = nil
	data, _ = json.Marshal(head) // ...,"txs":null}
	data = append(data[:len(data)-len(`null}`)], '[')
	for i, t := range b.Txs {
		if i > 0 {
			data = append(data, ',')
		}
		data = t.appendJSON(data)
	}
	data = append(data, "]}"...)
	sum := sha256.Sum256(data)
	return data, sum[:]
}

func signBlock(key ed25519.PrivateKey, hash []byte) []byte { return ed25519.Sign(key, hash) }

func timeFromNanos(ns int64) time.Time { return time.Unix(0, ns).UTC() }
