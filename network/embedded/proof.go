package embedded

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/anchorfs/anchorfs/network"
)

var _ network.Prover = (*Ledger)(nil)

// Prove makes the proof of an anchored version: the block that holds its
// transaction, the node's signature over that block's hash, and the node's
// key (which the genesis block names).
func (l *Ledger) Prove(ctx context.Context, a network.Anchor) (network.Proof, error) {
	if a.TxID == "" {
		return network.Proof{}, errors.New("the anchor names no transaction")
	}
	var number uint64
	err := l.db.QueryRowContext(ctx, `SELECT block FROM txs WHERE txid = ?`, a.TxID).Scan(&number)
	if errors.Is(err, sql.ErrNoRows) {
		return network.Proof{}, fmt.Errorf("%w: transaction %s", network.ErrNotFound, a.TxID)
	}
	if err != nil {
		return network.Proof{}, err
	}
	p := network.Proof{Format: 1, Kind: "embedded", Anchor: a}
	if err := l.db.QueryRowContext(ctx, `SELECT data, signature FROM blocks WHERE number = ?`, number).Scan(&p.Block, &p.Signature); err != nil {
		return network.Proof{}, err
	}
	var genesis []byte
	if err := l.db.QueryRowContext(ctx, `SELECT data FROM blocks WHERE number = 0`).Scan(&genesis); err != nil {
		return network.Proof{}, err
	}
	var g blockData
	if err := json.Unmarshal(genesis, &g); err != nil {
		return network.Proof{}, fmt.Errorf("genesis block is corrupt: %w", err)
	}
	p.NodeKey = g.NodeKey
	if _, err := CheckProof(p); err != nil {
		return network.Proof{}, fmt.Errorf("the ledger's own block does not prove the anchor: %w", err)
	}
	return p, nil
}

// CheckProof checks an embedded ledger's proof with nothing but the proof:
// the node's signature over the block's hash, a valid transaction with the
// anchor's id in the block, and its write of exactly that anchor. Whether the
// node key is the ledger's is for the reader to compare (anchorfs ledger
// info prints it).
func CheckProof(p network.Proof) (network.ProofCheck, error) {
	bad := func(why string) (network.ProofCheck, error) {
		return network.ProofCheck{}, fmt.Errorf("%w: %s", network.ErrBadProof, why)
	}
	if p.Format != 1 || p.Kind != "embedded" {
		return bad("not an embedded ledger proof of format 1")
	}
	if len(p.NodeKey) != ed25519.PublicKeySize {
		return bad("no node key")
	}
	hash := sha256.Sum256(p.Block)
	if !ed25519.Verify(p.NodeKey, hash[:], p.Signature) {
		return bad("the block's signature is not the node's")
	}
	var b blockData
	if err := json.Unmarshal(p.Block, &b); err != nil {
		return bad("the block is not readable")
	}
	for _, t := range b.Txs {
		if t.TxID != p.Anchor.TxID {
			continue
		}
		if t.Code != codeValid {
			return bad("the transaction was not valid (" + t.Code + ")")
		}
		for _, w := range t.Writes {
			if got, ok := network.MatchesAnchor(w.Value, p.Anchor); ok {
				return network.ProofCheck{Block: b.Number, BlockHash: hex.EncodeToString(hash[:]), Head: b.Number,
					HeadHash: hex.EncodeToString(hash[:]), Time: got.Time, Actor: got.Actor, Signer: hex.EncodeToString(p.NodeKey)}, nil
			}
		}
		return bad("the transaction does not write this anchor")
	}
	return bad("the block does not hold the transaction")
}
