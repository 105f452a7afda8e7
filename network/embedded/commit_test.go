package embedded

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/anchorfs/anchorfs/keyring"
)

// TestABlockAppliesItsWritesInTransactionOrder: a block applies its valid
// transactions' writes sorted by key, so the later transaction's write of
// a key must still win, a delete must still delete, and a transaction that
// read a key an earlier one of the same block wrote is a conflict that
// writes nothing.
func TestABlockAppliesItsWritesInTransactionOrder(t *testing.T) {
	dir := t.TempDir()
	id, err := keyring.Create(filepath.Join(dir, "keyring"), nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(filepath.Join(dir, "ledger"), id)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	k := func(s string) []byte { return []byte("\x00test\x00" + s + "\x00") }
	txs := []*txRecord{
		{TxID: "t0", Writes: []write{{Key: k("b"), Value: []byte("b0")}, {Key: k("a"), Value: []byte("a0")}, {Key: k("c"), Value: []byte("c0")}}},
		{TxID: "t1", Reads: []read{{Key: k("a")}}, Writes: []write{{Key: k("d"), Value: []byte("d1")}}},
		{TxID: "t2", Writes: []write{{Key: k("a"), Value: []byte("a2")}, {Key: k("c"), Delete: true}}},
		{TxID: "t3", Writes: []write{{Key: k("b"), Value: []byte("b3")}}},
	}
	for _, tx := range txs {
		tx.Creator = l.creator
		tx.Signature = id.Sign(tx.digest())
	}
	if err := l.commit(txs); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{codeValid, codeMVCCConflict, codeValid, codeValid} {
		if txs[i].Code != want {
			t.Errorf("transaction %d: %s, want %s", i, txs[i].Code, want)
		}
	}
	state := dbState{l.db}
	for key, want := range map[string]string{"a": "a2", "b": "b3", "c": "", "d": ""} {
		value, ver, err := state.get(k(key))
		if err != nil {
			t.Fatal(err)
		}
		if string(value) != want {
			t.Errorf("key %s holds %q, want %q", key, value, want)
		}
		if want != "" && (ver == nil || ver.Tx != map[string]int{"a": 2, "b": 3}[key]) {
			t.Errorf("key %s: version %+v names the wrong transaction", key, ver)
		}
	}
	if err := VerifyDir(context.Background(), filepath.Join(dir, "ledger")); err != nil {
		t.Fatal(err)
	}
}

// TestABlockIsEncodedAsJSONMarshalWritesIt: encode splices each
// transaction's signed JSON instead of encoding it again; the block's bytes,
// and so its hash, must be json.Marshal's, whatever the transactions hold.
func TestABlockIsEncodedAsJSONMarshalWritesIt(t *testing.T) {
	dir := t.TempDir()
	id, err := keyring.Create(filepath.Join(dir, "keyring"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ver := &version{Block: 3, Tx: 1}
	txs := []*txRecord{
		{TxID: "a", Creator: []byte("me"), Args: [][]byte{[]byte("Files:Commit"), []byte(`[{"a":"<&>\u2028"}]`)}, Time: -1,
			Reads:  []read{{Key: []byte("\x00k\x00"), Version: ver}, {Key: []byte("new")}},
			Writes: []write{{Key: []byte("\x00k\x00"), Value: []byte{0, 1, 2, 255}}, {Key: []byte("gone"), Delete: true}},
			Event:  &event{Name: "anchored", Payload: []byte(`[{"file":"f"}]`)}},
		{TxID: "b", Reads: []read{}, Writes: []write{}},
		{TxID: "c", Args: [][]byte{nil, {}}}, // not signed through sign: encoded whole
	}
	txs[0].sign(id)
	txs[1].sign(id)
	txs[2].Signature = []byte("x")
	for i, code := range []string{codeValid, codeMVCCConflict, codeValid} {
		txs[i].Code = code
	}
	for _, b := range []blockData{
		{Number: 7, PrevHash: []byte("prev"), Time: 12345, Txs: txs},
		{Number: 0, Time: 1, NodeKey: []byte("key"), Txs: []*txRecord{}},
		{Number: 1, Txs: txs[1:2]},
	} {
		want, _ := json.Marshal(b)
		got, hash := b.encode()
		if !bytes.Equal(got, want) {
			t.Fatalf("block %d encoded as\n%s\nwant\n%s", b.Number, got, want)
		}
		if sum := sha256.Sum256(want); !bytes.Equal(hash, sum[:]) {
			t.Fatalf("block %d: hash is not SHA-256 of its JSON", b.Number)
		}
	}
}
