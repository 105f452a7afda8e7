// Package embedded is a single-node ledger on local disk that runs the project's chaincode in-process.
package embedded

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/anchorfs/anchorfs/chaincode"
	"github.com/anchorfs/anchorfs/chaincode/wire"
	"github.com/anchorfs/anchorfs/network"
	"github.com/anchorfs/anchorfs/network/invoke"
	"github.com/anchorfs/anchorfs/retry"
)

// Signer is the caller: a certificate for its key and signatures by it.
// The keyring's Identity is one.
type Signer interface {
	Certificate() []byte
	Sign(msg []byte) []byte
}

// MSPID is the membership service provider id the embedded ledger gives every caller.
const MSPID = "embedded"

// Channel is the one channel of an embedded ledger.
const Channel = "anchorfs"

const (
	// maxBlockTxs bounds how many queued transactions one block takes.
	maxBlockTxs = 64
)

// Ledger is an open embedded ledger: the chaincode's calls (invoke.Client)
// over transactions this process executes, orders and commits itself.
type Ledger struct {
	invoke.Client
	dir     string
	db      *sql.DB
	cc      *contractapi.ContractChaincode
	signer  Signer
	creator []byte
	nodeKey ed25519.PrivateKey

	queue chan *submission
	stop  chan struct{}
	wg    sync.WaitGroup
}

var _ network.Ledger = (*Ledger)(nil)

type submission struct {
	tx   *txRecord
	done chan error // nil: committed; the record's Code says whether valid
}

// Open opens (creating if needed) the ledger in dir for the caller signer.
func Open(dir string, signer Signer) (*Ledger, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ledger folder: %w", err)
	}
	// Processes opening the folder at once take turns setting it up: SQLite
	// refuses a switch to WAL while another connection is making the file.
	unlock, err := lockSetup(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	key, err := nodeKey(dir)
	if err != nil {
		return nil, err
	}
	db, err := openDB(filepath.Join(dir, "ledger.db"))
	if err != nil {
		return nil, err
	}
	cc, err := chaincode.New()
	if err != nil {
		db.Close()
		return nil, err
	}
	l := &Ledger{dir: dir, db: db, cc: cc, signer: signer, nodeKey: key, queue: make(chan *submission, 1024), stop: make(chan struct{})}
	l.Client = invoke.Client{T: transactor{l}}
	if signer != nil {
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: signer.Certificate()})
		l.creator, _ = proto.Marshal(&msp.SerializedIdentity{Mspid: MSPID, IdBytes: certPEM})
	}
	created, err := l.genesis()
	if err != nil {
		db.Close()
		return nil, err
	}
	l.wg.Add(1)
	go l.committer()
	if created && signer != nil {
		// The identity that creates the ledger is its operator: it mints
		// tokens and sets prices.
		if _, err := l.Submit(context.Background(), "Tokens:Claim"); err != nil {
			l.Close()
			return nil, fmt.Errorf("claiming the new ledger: %w", err)
		}
	}
	return l, nil
}

// lockSetup takes the folder's setup lock (an flock on DIR/setup.lock).
func lockSetup(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, "setup.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ledger folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("ledger folder: %w", err)
	}
	return func() { f.Close() }, nil
}

// nodeKey loads or creates the key that signs this ledger's blocks. A new
// key is written whole under a temporary name and linked into place, so
// that processes opening a new ledger at once all read the one that won.
func nodeKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, "node.key")
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		tmp, terr := os.CreateTemp(dir, "node.key.*")
		if terr != nil {
			return nil, fmt.Errorf("node key: %w", terr)
		}
		_, werr := tmp.Write(key.Seed())
		if werr == nil {
			werr = tmp.Sync()
		}
		if cerr := tmp.Close(); werr == nil {
			werr = cerr
		}
		if werr == nil {
			werr = os.Chmod(tmp.Name(), 0o600)
		}
		if werr == nil {
			werr = os.Link(tmp.Name(), path)
		}
		os.Remove(tmp.Name())
		if werr == nil {
			return key, nil
		}
		if !os.IsExist(werr) {
			return nil, fmt.Errorf("node key: %w", werr)
		}
		b, err = os.ReadFile(path) // another process linked its key first
	}
	if err != nil {
		return nil, fmt.Errorf("node key: %w", err)
	}
	if len(b) != ed25519.SeedSize {
		return nil, fmt.Errorf("node key %s is damaged", path)
	}
	return ed25519.NewKeyFromSeed(b), nil
}

// genesis writes block 0, naming the node key, if the ledger is new, and
// reports whether it was.
func (l *Ledger) genesis() (bool, error) {
	ctx := context.Background()
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM blocks`).Scan(&n); err != nil {
		return false, err
	}
	if n > 0 {
		return false, nil
	}
	b := blockData{Number: 0, Time: time.Now().UnixNano(), NodeKey: l.nodeKey.Public().(ed25519.PublicKey), Txs: []*txRecord{}}
	data, hash := b.encode()
	if _, err := tx.ExecContext(ctx, `INSERT INTO blocks (number, hash, data, signature) VALUES (0, ?, ?, ?)`,
		hash, data, signBlock(l.nodeKey, hash)); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// Close stops the committer and closes the database.
func (l *Ledger) Close() error {
	select {
	case <-l.stop:
		return nil
	default:
	}
	close(l.stop)
	l.wg.Wait()
	return l.db.Close()
}

// Actor is how the chaincode names this ledger's caller ("" without one).
func (l *Ledger) Actor() string {
	if l.signer == nil {
		return ""
	}
	cert, err := x509.ParseCertificate(l.signer.Certificate())
	if err != nil {
		return ""
	}
	return wire.ActorID(MSPID, cert.RawSubjectPublicKeyInfo)
}

// Dir is the ledger's folder.
func (l *Ledger) Dir() string { return l.dir }

// simulate runs the chaincode function on committed state and returns the
// transaction it would make and the function's result.
func (l *Ledger) simulate(args ...string) (*txRecord, []byte, error) {
	rec, st, payload, err := l.run(args)
	if err != nil {
		return nil, nil, err
	}
	if st.paged && len(st.writes) > 0 {
		return nil, nil, errors.New("a transaction that runs a paginated query may not write (as on Fabric)")
	}
	rec.Reads, rec.Writes = st.readSet(), st.writeSet()
	if st.event != nil {
		rec.Event = &event{Name: st.event.EventName, Payload: st.event.Payload}
	}
	rec.sign(l.signer)
	return rec, payload, nil
}

// run invokes the chaincode function on committed state: the transaction's
// identity and arguments, the stub that saw its reads and writes, and the
// function's result.
func (l *Ledger) run(args []string) (*txRecord, *stub, []byte, error) {
	if l.signer == nil {
		return nil, nil, nil, errors.New("the ledger was opened without an identity")
	}
	nonce := make([]byte, 24)
	rand.Read(nonce)
	sum := sha256.Sum256(append(nonce, l.creator...))
	txid := hex.EncodeToString(sum[:])
	now := time.Now()
	bargs := make([][]byte, len(args))
	for i, a := range args {
		bargs[i] = []byte(a)
	}
	st := newStub(dbState{l.db}, txid, Channel, bargs, l.creator, timestamppb.New(now))
	resp := l.cc.Invoke(st)
	if resp.Status >= 400 {
		return nil, nil, nil, errors.New(resp.Message)
	}
	return &txRecord{TxID: txid, Creator: l.creator, Args: bargs, Time: now.UnixNano()}, st, resp.Payload, nil
}

// evaluate runs a query function without committing anything: no
// transaction is made of it, nor signed.
func (l *Ledger) evaluate(args ...string) ([]byte, error) {
	_, _, payload, err := l.run(args)
	return payload, err
}

// submit simulates and commits, simulating again when another transaction
// changed what this one read (retry.Conflict).
func (l *Ledger) submit(ctx context.Context, args ...string) ([]byte, error) {
	var payload []byte
	tries := 0
	err := retry.Do(ctx, retry.Conflict, func(err error) bool { return errors.Is(err, errConflict) }, nil, func() error {
		tries++
		rec, out, err := l.simulate(args...)
		if err != nil {
			return err
		}
		payload = out
		if len(rec.Writes) == 0 && rec.Event == nil {
			return nil // nothing to commit
		}
		s := &submission{tx: rec, done: make(chan error, 1)}
		select {
		case l.queue <- s:
		case <-ctx.Done():
			return ctx.Err()
		case <-l.stop:
			return fmt.Errorf("%w: the ledger is closed", network.ErrUnavailable)
		}
		if err := <-s.done; err != nil {
			return err
		}
		if rec.Code != codeValid {
			return fmt.Errorf("transaction %s: %s (try %d): %w", rec.TxID, rec.Code, tries, errConflict)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return payload, nil
}

// errConflict is a transaction another one invalidated: simulated again.
var errConflict = errors.New("lost to a concurrent transaction")

// committer cuts blocks from queued transactions, one database transaction
// per block.
func (l *Ledger) committer() {
	defer l.wg.Done()
	for {
		var batch []*submission
		select {
		case <-l.stop:
			return
		case s := <-l.queue:
			batch = append(batch, s)
		}
	more:
		for len(batch) < maxBlockTxs {
			select {
			case s := <-l.queue:
				batch = append(batch, s)
			default:
				break more
			}
		}
		txs := make([]*txRecord, len(batch))
		for i, s := range batch {
			txs[i] = s.tx
		}
		err := l.commit(txs)
		for _, s := range batch {
			s.done <- err
		}
	}
}

// commit validates the transactions' read sets against the state (MVCC),
// applies the valid ones' writes and appends the block, all in one SQLite
// transaction: either the whole block is on disk or none of it is.
func (l *Ledger) commit(txs []*txRecord) error {
	ctx := context.Background()
	tx, err := l.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE (see _txlock)
	if err != nil {
		return fmt.Errorf("%w: %v", network.ErrUnavailable, err)
	}
	defer tx.Rollback()
	last, prev, err := headOf(ctx, tx)
	if err != nil {
		return err
	}
	number := last + 1
	getVer, err := tx.PrepareContext(ctx, `SELECT block, tx FROM state WHERE key = ?`)
	if err != nil {
		return err
	}
	defer getVer.Close()
	upsert, err := tx.PrepareContext(ctx, `INSERT INTO state (key, value, block, tx) VALUES (?, ?, ?, ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value, block = excluded.block, tx = excluded.tx`)
	if err != nil {
		return err
	}
	defer upsert.Close()
	del, err := tx.PrepareContext(ctx, `DELETE FROM state WHERE key = ?`)
	if err != nil {
		return err
	}
	defer del.Close()
	hist, err := tx.PrepareContext(ctx, `INSERT INTO history (key, block, tx, txid, value, deleted, ts) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer hist.Close()
	// Writes are applied once every transaction is validated, sorted by
	// key (the B-trees are then walked in order, not hopped across), the
	// later transaction's write of a key after the earlier's; a read of a
	// key an earlier transaction of the block wrote is a conflict.
	written := map[string]bool{}
	var apply []applied
	for i, t := range txs {
		t.Code = codeValid
		for _, r := range t.Reads {
			if written[string(r.Key)] {
				t.Code = codeMVCCConflict
				break
			}
			var cur version
			err := getVer.QueryRowContext(ctx, r.Key).Scan(&cur.Block, &cur.Tx)
			switch {
			case err == sql.ErrNoRows:
				if r.Version != nil {
					t.Code = codeMVCCConflict
				}
			case err != nil:
				return err
			case r.Version == nil || *r.Version != cur:
				t.Code = codeMVCCConflict
			}
			if t.Code != codeValid {
				break
			}
		}
		if t.Code != codeValid {
			continue
		}
		for j := range t.Writes {
			written[string(t.Writes[j].Key)] = true
			apply = append(apply, applied{w: &t.Writes[j], tx: i})
		}
	}
	slices.SortStableFunc(apply, func(a, b applied) int { return bytes.Compare(a.w.Key, b.w.Key) })
	for _, a := range apply {
		w := a.w
		if w.Delete {
			_, err = del.ExecContext(ctx, w.Key)
		} else {
			_, err = upsert.ExecContext(ctx, w.Key, w.Value, number, a.tx)
		}
		if err != nil {
			return err
		}
		if !keepsHistory(w.Key) {
			continue
		}
		if _, err := hist.ExecContext(ctx, w.Key, number, a.tx, txs[a.tx].TxID, w.Value, w.Delete, txs[a.tx].Time); err != nil {
			return err
		}
	}
	b := blockData{Number: number, PrevHash: prev, Time: time.Now().UnixNano(), Txs: txs}
	data, hash := b.encode()
	if _, err := tx.ExecContext(ctx, `INSERT INTO blocks (number, hash, data, signature) VALUES (?, ?, ?, ?)`,
		number, hash, data, signBlock(l.nodeKey, hash)); err != nil {
		return err
	}
	for i, t := range txs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO txs (txid, block, tx, code) VALUES (?, ?, ?, ?)`, t.TxID, number, i, t.Code); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// applied is a write of a valid transaction of the block, and the
// transaction's index in the block.
type applied struct {
	w  *write
	tx int
}

// historyPrefixes start the composite keys of chaincode.HistoryKinds.
var historyPrefixes = func() [][]byte {
	var out [][]byte
	for _, kind := range chaincode.HistoryKinds {
		out = append(out, []byte("\x00"+kind+"\x00"))
	}
	return out
}()

// keepsHistory reports whether the ledger keeps the history of key: only
// of those whose history the chaincode reads (chaincode.HistoryKinds).
func keepsHistory(key []byte) bool {
	for _, p := range historyPrefixes {
		if bytes.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// transactor runs chaincode functions on this ledger for package invoke.
type transactor struct{ l *Ledger }

func (t transactor) Submit(ctx context.Context, fn string, args ...string) ([]byte, error) {
	return t.l.submit(ctx, append([]string{fn}, args...)...)
}

func (t transactor) Evaluate(ctx context.Context, fn string, args ...string) ([]byte, error) {
	return t.l.evaluate(append([]string{fn}, args...)...)
}

// Info describes the ledger.
func (l *Ledger) Info(ctx context.Context) (network.Info, error) {
	var n uint64
	var hash, first []byte
	if err := l.db.QueryRowContext(ctx, `SELECT number, hash FROM blocks ORDER BY number DESC LIMIT 1`).Scan(&n, &hash); err != nil {
		return network.Info{}, err
	}
	if err := l.db.QueryRowContext(ctx, `SELECT hash FROM blocks WHERE number = 0`).Scan(&first); err != nil {
		return network.Info{}, err
	}
	return network.Info{Kind: "embedded", ID: "embedded:" + hex.EncodeToString(first), Where: l.dir, Height: n + 1, Head: hex.EncodeToString(hash),
		Signer: hex.EncodeToString(l.nodeKey.Public().(ed25519.PublicKey))}, nil
}

// Blocks calls fn for each block from number from on.
func (l *Ledger) Blocks(ctx context.Context, from uint64, fn func(network.Block) error) error {
	rows, err := l.db.QueryContext(ctx, `SELECT hash, data FROM blocks WHERE number >= ? ORDER BY number`, from)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var hash, data []byte
		if err := rows.Scan(&hash, &data); err != nil {
			return err
		}
		var b blockData
		if err := json.Unmarshal(data, &b); err != nil {
			return fmt.Errorf("block is corrupt: %w", err)
		}
		nb := network.Block{Number: b.Number, Hash: hex.EncodeToString(hash), PrevHash: hex.EncodeToString(b.PrevHash),
			Time: timeFromNanos(b.Time), TxIDs: []string{}}
		for _, t := range b.Txs {
			nb.TxIDs = append(nb.TxIDs, t.TxID)
		}
		if err := fn(nb); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Submit runs a chaincode function ("Contract:Function") as a transaction
// and commits it; for tools and tests that call the chaincode directly.
func (l *Ledger) Submit(ctx context.Context, args ...string) ([]byte, error) {
	return l.submit(ctx, args...)
}

// Evaluate runs a chaincode function without committing anything.
func (l *Ledger) Evaluate(args ...string) ([]byte, error) { return l.evaluate(args...) }
