package embedded

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/hyperledger/fabric-protos-go-apiv2/ledger/queryresult"
	"google.golang.org/protobuf/types/known/timestamppb"
	_ "modernc.org/sqlite" // the SQLite driver, pure Go
)

// schema is the ledger database: world state with each key's version, the
// history of the keys whose history the chaincode reads (keepsHistory; a
// ledger written before that keeps every key's), the blocks and an index
// of transactions.
const schema = `
CREATE TABLE IF NOT EXISTS state (
	key   BLOB PRIMARY KEY,
	value BLOB NOT NULL,
	block INTEGER NOT NULL,
	tx    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history (
	key     BLOB NOT NULL,
	block   INTEGER NOT NULL,
	tx      INTEGER NOT NULL,
	txid    TEXT NOT NULL,
	value   BLOB,
	deleted INTEGER NOT NULL,
	ts      INTEGER NOT NULL,
	PRIMARY KEY (key, block, tx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blocks (
	number    INTEGER PRIMARY KEY,
	hash      BLOB NOT NULL,
	data      BLOB NOT NULL,
	signature BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS txs (
	txid  TEXT PRIMARY KEY,
	block INTEGER NOT NULL,
	tx    INTEGER NOT NULL,
	code  TEXT NOT NULL
);
`

// openDB opens the ledger database: WAL so that readers never wait on the
// writer, a busy timeout so that several processes take turns committing,
// full sync so that a committed block survives a power cut, and up to
// 32 MiB of pages cached by each connection within 64 MiB for SQLite in
// the process (anchoring 2,000 versions reads back pages it just wrote:
// 4,400 versions/s with SQLite's default 2 MiB, 5,000-5,500 with this).
func openDB(path string) (*sql.DB, error) {
	dsn := "file:" + path + "?_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=cache_size(-32768)&_pragma=soft_heap_limit(67108864)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("ledger database %s: %w", path, err)
	}
	return db, nil
}

// dbState reads committed state for simulations.
type dbState struct{ db *sql.DB }

func (s dbState) get(key []byte) ([]byte, *version, error) {
	var v version
	var value []byte
	err := s.db.QueryRow(`SELECT value, block, tx FROM state WHERE key = ?`, key).Scan(&value, &v.Block, &v.Tx)
	if err == sql.ErrNoRows {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return value, &v, nil
}

// getMany reads keys a few hundred per query.
func (s dbState) getMany(keys [][]byte) ([][]byte, []*version, error) {
	values, vers := make([][]byte, len(keys)), make([]*version, len(keys))
	at := make(map[string][]int, len(keys))
	for i, k := range keys {
		at[string(k)] = append(at[string(k)], i)
	}
	const perQuery = 500 // under SQLite's bound on parameters
	for lo := 0; lo < len(keys); lo += perQuery {
		part := keys[lo:min(lo+perQuery, len(keys))]
		args := make([]any, len(part))
		for i, k := range part {
			args[i] = k
		}
		q := `SELECT key, value, block, tx FROM state WHERE key IN (?` + strings.Repeat(",?", len(part)-1) + `)`
		rows, err := s.db.Query(q, args...)
		if err != nil {
			return nil, nil, err
		}
		for rows.Next() {
			var e kv
			if err := rows.Scan(&e.key, &e.value, &e.ver.Block, &e.ver.Tx); err != nil {
				rows.Close()
				return nil, nil, err
			}
			for _, i := range at[string(e.key)] {
				ver := e.ver
				values[i], vers[i] = e.value, &ver
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, nil, err
		}
	}
	return values, vers, nil
}

func (s dbState) scan(start, end []byte, limit int) ([]kv, error) {
	q := `SELECT key, value, block, tx FROM state WHERE key >= ?`
	args := []any{start}
	if end != nil {
		q += ` AND key < ?`
		args = append(args, end)
	}
	q += ` ORDER BY key`
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := s.db.Query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []kv
	for rows.Next() {
		var e kv
		if err := rows.Scan(&e.key, &e.value, &e.ver.Block, &e.ver.Tx); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s dbState) history(key []byte) ([]*queryresult.KeyModification, error) {
	rows, err := s.db.Query(`SELECT txid, value, deleted, ts FROM history WHERE key = ? ORDER BY block, tx`, key)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*queryresult.KeyModification
	for rows.Next() {
		var m queryresult.KeyModification
		var ts int64
		if err := rows.Scan(&m.TxId, &m.Value, &m.IsDelete, &ts); err != nil {
			return nil, err
		}
		m.Timestamp = timestamppb.New(timeFromNanos(ts))
		out = append(out, &m)
	}
	return out, rows.Err()
}

// headOf returns the newest block's number and hash within a transaction.
func headOf(ctx context.Context, tx *sql.Tx) (number uint64, hash []byte, err error) {
	err = tx.QueryRowContext(ctx, `SELECT number, hash FROM blocks ORDER BY number DESC LIMIT 1`).Scan(&number, &hash)
	return number, hash, err
}
