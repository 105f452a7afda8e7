package embedded

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"
)

// Verify checks the whole chain; see VerifyDir.
func (l *Ledger) Verify(ctx context.Context) error { return verifyDB(ctx, l.db) }

// VerifyDir checks the ledger in dir without opening it for writing: every
// block's hash and its link to the previous one, the node's signature on
// every block, every transaction's signature by its creator, and the world
// state, rebuilt from the valid transactions' writes and compared with the
// stored one. It names the first block that fails.
func VerifyDir(ctx context.Context, dir string) error {
	path := filepath.Join(dir, "ledger.db")
	if _, err := os.Stat(path); err != nil {
		// Opening would make an empty ledger there, which verifies.
		return fmt.Errorf("%s holds no embedded ledger: %w", dir, err)
	}
	db, err := openDB(path)
	if err != nil {
		return err
	}
	defer db.Close()
	return verifyDB(ctx, db)
}

func verifyDB(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT number, hash, data, signature FROM blocks ORDER BY number`)
	if err != nil {
		return err
	}
	defer rows.Close()
	state := map[string][]byte{}
	var prev []byte
	var nodeKey ed25519.PublicKey
	var want uint64
	for rows.Next() {
		var number uint64
		var hash, data, sig []byte
		if err := rows.Scan(&number, &hash, &data, &sig); err != nil {
			return err
		}
		if number != want {
			return fmt.Errorf("block %d is missing", want)
		}
		want++
		sum := sha256.Sum256(data)
		if !bytes.Equal(sum[:], hash) {
			return fmt.Errorf("block %d: its content does not match its hash", number)
		}
		var b blockData
		if err := json.Unmarshal(data, &b); err != nil {
			return fmt.Errorf("block %d is corrupt: %v", number, err)
		}
		if b.Number != number {
			return fmt.Errorf("block %d says it is block %d", number, b.Number)
		}
		if number == 0 {
			if len(b.NodeKey) != ed25519.PublicKeySize {
				return fmt.Errorf("block 0 names no node key")
			}
			nodeKey = b.NodeKey
		} else if !bytes.Equal(b.PrevHash, prev) {
			return fmt.Errorf("block %d does not follow block %d (hash chain broken)", number, number-1)
		}
		if !ed25519.Verify(nodeKey, hash, sig) {
			return fmt.Errorf("block %d: the node's signature does not verify", number)
		}
		for i, t := range b.Txs {
			if err := verifyTx(t); err != nil {
				return fmt.Errorf("block %d, transaction %d (%s): %v", number, i, t.TxID, err)
			}
			if t.Code != codeValid {
				continue
			}
			for _, w := range t.Writes {
				if w.Delete {
					delete(state, string(w.Key))
				} else {
					state[string(w.Key)] = w.Value
				}
			}
		}
		prev = hash
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if want == 0 {
		return fmt.Errorf("the ledger has no blocks, not even its first")
	}
	// The stored world state must be exactly what the blocks say.
	srows, err := tx.QueryContext(ctx, `SELECT key, value FROM state`)
	if err != nil {
		return err
	}
	defer srows.Close()
	seen := 0
	for srows.Next() {
		var k, v []byte
		if err := srows.Scan(&k, &v); err != nil {
			return err
		}
		want, ok := state[string(k)]
		if !ok {
			return fmt.Errorf("world state holds key %q that no block wrote", k)
		}
		if !bytes.Equal(want, v) {
			return fmt.Errorf("world state of key %q differs from what the blocks wrote", k)
		}
		seen++
	}
	if seen != len(state) {
		return fmt.Errorf("world state lacks %d keys the blocks wrote", len(state)-seen)
	}
	return srows.Err()
}

// verifyTx checks a transaction's signature by its creator.
func verifyTx(t *txRecord) error {
	var id msp.SerializedIdentity
	if err := proto.Unmarshal(t.Creator, &id); err != nil {
		return fmt.Errorf("creator: %v", err)
	}
	blk, _ := pem.Decode(id.IdBytes)
	if blk == nil {
		return fmt.Errorf("creator has no certificate")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return fmt.Errorf("creator certificate: %v", err)
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok || !ed25519.Verify(pub, t.digest(), t.Signature) {
		return fmt.Errorf("the creator's signature does not verify")
	}
	if t.Code != codeValid && t.Code != codeMVCCConflict {
		return fmt.Errorf("unknown validation code %q", t.Code)
	}
	return nil
}
