// Package wire is the ledger protocol: the records the chaincode keeps and returns, the limits it enforces, the error codes it answers with and the names it gives callers; the chaincode and every client share these definitions.
package wire

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// FileVersion is one anchored version of a file: who replaced which
// version with which ciphertext. Hashes are lowercase hex SHA-256; ids are
// opaque (no names, no content).
type FileVersion struct {
	Volume      string `json:"volume"`
	File        string `json:"file"`
	Version     uint64 `json:"version"`
	PrevVersion uint64 `json:"prevVersion"`
	// PrevManifestHash names the version replaced by its manifest too, so
	// that two writers' equal version numbers are told apart: an anchor
	// made on top of a version the ledger never took is stale.
	PrevManifestHash string `json:"prevManifestHash,omitempty" metadata:",optional"`
	MerkleRoot       string `json:"merkleRoot"`
	ManifestHash     string `json:"manifestHash"`
	Size             int64  `json:"size"`
	// Domain is the shared folder the file is in ("" for none).
	Domain string `json:"domain,omitempty" metadata:",optional"`

	// Lane names the writer (a home's mount) whose storage account the
	// version's bytes join (Lane); "" for a client that keeps none.
	Lane string `json:"lane,omitempty" metadata:",optional"`

	// Filled in by the chaincode.
	Actor string    `json:"actor,omitempty" metadata:",optional"`
	TxID  string    `json:"txId,omitempty" metadata:",optional"`
	Time  time.Time `json:"time,omitempty" metadata:",optional"`
}

// HeadVersion is one anchored head: a committed state of a volume's tree
// (Domain "") or of one of its shared folders. Seq grows along the head
// lineage (a head's is one more than the greatest of its parents'), so the
// newest anchored head tells how far the tree has come: a remote that
// serves only older heads has been rolled back.
type HeadVersion struct {
	Volume string `json:"volume"`
	Domain string `json:"domain,omitempty" metadata:",optional"`
	// Hash is the SHA-256 of the sealed head object, its name on the remote.
	Hash string `json:"hash"`
	Seq  uint64 `json:"seq"`
	// Parents are the heads it replaces (the writer's previous one first,
	// then those it merged), at most MaxParents.
	Parents []string `json:"parents,omitempty" metadata:",optional"`

	// Filled in by the chaincode.
	Actor string    `json:"actor,omitempty" metadata:",optional"`
	TxID  string    `json:"txId,omitempty" metadata:",optional"`
	Time  time.Time `json:"time,omitempty" metadata:",optional"`
}

// Outcome is what became of one anchor of a batch.
type Outcome struct {
	// Status is "anchored", "exists" (this very version was anchored
	// before: a retry) or "stale" (the previous version named is not the
	// latest; Current is the latest) or "denied" (the volume's policy
	// does not let the caller write the file; Reason says why).
	Status  string       `json:"status"`
	Current *FileVersion `json:"current,omitempty" metadata:",optional"`
	Reason  string       `json:"reason,omitempty" metadata:",optional"`
}

// CommitOutcome is what became of each file version and head of a Commit,
// in order. A head is "anchored" (whether or not it is the newest),
// "exists" (it is the newest already: a retry) or "denied".
type CommitOutcome struct {
	Versions []Outcome `json:"versions"`
	Heads    []Outcome `json:"heads"`
}

// Outcome statuses.
const (
	// StatusUnpaid: the writer's storage account cannot pay what its
	// stored bytes cost since it last paid; nothing of the batch is
	// anchored until it reserves more (Tokens:Reserve).
	StatusUnpaid   = "unpaid"
	StatusAnchored = "anchored"
	StatusExists   = "exists"
	StatusStale    = "stale"
	StatusDenied   = "denied"
	StatusGranted  = "granted"
	StatusRevoked  = "revoked"
)

// Event is one audit record.
type Event struct {
	Time   time.Time         `json:"time"`
	Actor  string            `json:"actor"`
	Action string            `json:"action"` // anchor, head, read, denied, integrity, grant, ...
	Volume string            `json:"volume"`
	File   string            `json:"file,omitempty" metadata:",optional"`
	Detail map[string]string `json:"detail,omitempty" metadata:",optional"`
	TxID   string            `json:"txId,omitempty" metadata:",optional"`
}

// Query selects events of a volume; empty fields match everything; times
// are RFC 3339 ("" for no bound). A query is answered a page at a time:
// at most Limit events scanned (0 or more than MaxPage: MaxPage), and the
// page's Next to pass as After for the rest.
type Query struct {
	Volume string `json:"volume"`
	File   string `json:"file,omitempty" metadata:",optional"`
	Actor  string `json:"actor,omitempty" metadata:",optional"`
	Action string `json:"action,omitempty" metadata:",optional"`
	Since  string `json:"since,omitempty" metadata:",optional"`
	Until  string `json:"until,omitempty" metadata:",optional"`
	Limit  int    `json:"limit,omitempty" metadata:",optional"`
	After  string `json:"after,omitempty" metadata:",optional"`
}

// EventPage is one page of a query's events, oldest first; Next is ""
// on the last page, else where the next one starts (opaque). A page may
// hold fewer events than its limit, none even, and still not be the last.
type EventPage struct {
	Events []Event `json:"events"`
	Next   string  `json:"next,omitempty" metadata:",optional"`
}

// Grant gives a grantee key rights on a shared folder (a domain) of a volume.
type Grant struct {
	Volume string `json:"volume"`
	Domain string `json:"domain"`
	// Path labels the folder for its readers: anchorfs seals its path for
	// the owner and the grantee, so the ledger holds no names.
	Path string `json:"path"`
	// GranteeKey is the grantee's Ed25519 signing key, unpadded base64url.
	GranteeKey string `json:"granteeKey"`
	// Recipient is the grantee's age X25519 recipient, public: the owner
	// wraps new keys for it when a revocation rotates the folder's key.
	Recipient string `json:"recipient,omitempty" metadata:",optional"`
	// Rights are RightsReadWrite or RightsReadOnly.
	Rights string `json:"rights"`
	// Keys are the domain's keys wrapped for the grantee, opaque to the
	// ledger (base64 in JSON).
	Keys  []byte `json:"keys"`
	Epoch uint32 `json:"epoch"`

	// Filled in by the chaincode.
	GranteeID string    `json:"granteeId,omitempty" metadata:",optional"`
	GrantedBy string    `json:"grantedBy,omitempty" metadata:",optional"`
	Time      time.Time `json:"time,omitempty" metadata:",optional"`
	TxID      string    `json:"txId,omitempty" metadata:",optional"`
	Revoked   bool      `json:"revoked,omitempty" metadata:",optional"`
	RevokedAt time.Time `json:"revokedAt,omitempty" metadata:",optional"`
	RevokedBy string    `json:"revokedBy,omitempty" metadata:",optional"`
	// Replaced is when a later grant to the same key on the same folder
	// replaced this one (GrantHistory).
	Replaced time.Time `json:"replaced,omitzero" metadata:",optional"`
}

// Grant rights.
const (
	RightsReadWrite = "rw"
	RightsReadOnly  = "ro"
)

// PolicyOutcome is what became of a Grant or Revoke: Status "granted",
// "revoked" or "denied" (Reason says why).
type PolicyOutcome struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty" metadata:",optional"`
}

// Node is one storage node of a volume (a remote holding one shard of
// each chunk): an opaque id, never where it is; its position in the
// volume's shard order (1-based), who is paid for what it holds, and its
// scrub record.
type Node struct {
	Volume   string `json:"volume"`
	ID       string `json:"id"`
	Position int    `json:"position"`
	// Payee is the identity paid for holding the node's shards ("": the
	// ledger's operator).
	Payee string `json:"payee,omitempty" metadata:",optional"`
	// DataShards is the volume's layout: each chunk in this many data
	// shards, one per node, the other nodes holding parity (0: every node
	// holds every chunk whole). Stored bytes are billed with the parity:
	// a file's size times the nodes over the data shards.
	DataShards int `json:"dataShards,omitempty" metadata:",optional"`

	// Filled in by the chaincode.
	Added   time.Time `json:"added,omitempty" metadata:",optional"`
	Removed time.Time `json:"removed,omitzero" metadata:",optional"`
	// Scrubs counts the scrubs recorded for the node, and the totals sum
	// their results; Last is the newest.
	Scrubs  int64        `json:"scrubs"`
	Checked int64        `json:"checked"`
	Missing int64        `json:"missing"`
	Corrupt int64        `json:"corrupt"`
	Last    *ScrubResult `json:"last,omitempty" metadata:",optional"`
}

// ScrubResult is what one scrub found on one node: objects and shards it
// should hold, checked; missing; altered; reads it did not answer; and
// rewritten by a repair.
type ScrubResult struct {
	Node        string    `json:"node"`
	Checked     int64     `json:"checked"`
	Missing     int64     `json:"missing"`
	Corrupt     int64     `json:"corrupt"`
	Unreachable int64     `json:"unreachable"`
	Repaired    int64     `json:"repaired"`
	Time        time.Time `json:"time,omitzero" metadata:",optional"` // filled in by the chaincode
}

const (
	// MaxNodes bounds a volume's storage nodes (one per shard).
	MaxNodes = 32
	// MaxPayee bounds a node's payee identity.
	MaxPayee = 512
	// MaxBatch bounds one transaction's anchors and heads together: large
	// enough that a write-heavy workload costs few transactions, small
	// enough for Fabric's default message size.
	MaxBatch = 5000
	// BatchSize is how many a client sends per transaction (the fastest
	// measured on both ledgers; docs/LEDGER.md).
	BatchSize = 2000
	// MaxQuery bounds the files one LatestMany asks of.
	MaxQuery = 1000
	// MaxParents bounds the parents one head anchor names.
	MaxParents = 64
	// MaxEvents bounds one Record call.
	MaxEvents = 5000
	// MaxDetails bounds an event's details, MaxDetail each key and value.
	MaxDetails = 16
	MaxDetail  = 512
	// MaxPage bounds the events one query page scans.
	MaxPage = 1000
)

// Tokens are counted in micro-tokens: Unit is one token. All, as the
// amount of a transfer, is the whole balance.
const (
	Unit = 1_000_000
	All  = -1
)

// FormatTokens writes micro-tokens as tokens: "12.5", "-0.000001".
func FormatTokens(micro int64) string {
	sign := ""
	u := uint64(micro)
	if micro < 0 {
		sign, u = "-", uint64(-micro)
	}
	s := fmt.Sprintf("%s%d.%06d", sign, u/Unit, u%Unit)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// ParseTokens reads an amount of tokens ("12.5") as micro-tokens.
func ParseTokens(s string) (int64, error) {
	whole, frac, _ := strings.Cut(strings.TrimSpace(s), ".")
	neg := strings.HasPrefix(whole, "-")
	whole = strings.TrimPrefix(whole, "-")
	if whole == "" && frac == "" || len(frac) > 6 || len(whole) > 12 {
		return 0, fmt.Errorf("amount %q: tokens with at most 6 decimals, such as 12.5", s)
	}
	var w, f int64
	for _, r := range whole {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("amount %q is not a number", s)
		}
		w = w*10 + int64(r-'0')
	}
	frac += strings.Repeat("0", 6-len(frac))
	for _, r := range frac {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("amount %q is not a number", s)
		}
		f = f*10 + int64(r-'0')
	}
	v := w*Unit + f
	if neg {
		v = -v
	}
	return v, nil
}

// LedgerVolume is the id under which the ledger's own events are kept
// (denied mints and price changes): its "owner" is the operator.
const LedgerVolume = "00000000000000000000000000000000"

// GiB and Month are the units prices are per: a GiB stored for a month of
// 30 days, a GiB read.
const (
	GiB   = 1 << 30
	Month = 30 * 24 * time.Hour
)

// Prices is the operator's price list, in micro-tokens: per GiB-month
// stored (parity included) and per GiB read. Since is when it took effect.
type Prices struct {
	Storage int64     `json:"storage"`
	Read    int64     `json:"read"`
	Since   time.Time `json:"since,omitzero" metadata:",optional"`
}

// Account is an identity's tokens, in micro-tokens: Balance is what it has
// now (what it was given and received, less what it sent and was charged,
// less the storage its volumes used since they last paid); Reserved is the
// part of it its mounts set aside to pay for storage as they write
// (Lane); Available is the rest, what it may transfer or reserve.
type Account struct {
	Identity  string `json:"identity"`
	Balance   int64  `json:"balance"`
	Reserved  int64  `json:"reserved"`
	Accrued   int64  `json:"accrued"`
	Available int64  `json:"available"`
	Operator  bool   `json:"operator,omitempty" metadata:",optional"`
}

// Lane is one writer's storage account of a volume: the bytes its anchors
// added (negative when it replaced others' larger versions), since when
// they are paid for, and the tokens it reserved from the volume owner's
// balance to pay with. Each mount writes only its own lane, so concurrent
// writers never touch one key.
type Lane struct {
	Volume   string    `json:"volume"`
	Lane     string    `json:"lane"`
	Bytes    int64     `json:"bytes"`
	Since    time.Time `json:"since,omitzero" metadata:",optional"`
	Reserved int64     `json:"reserved"`
	// Due is what its bytes cost since Since, in micro-tokens, when asked.
	Due int64 `json:"due,omitempty" metadata:",optional"`
}

// Charge is one change of an identity's balance, a line of its statement:
// Amount (signed, micro-tokens) for Kind ("mint", "transfer", "storage",
// "storage-income", "read", "read-income"), about a volume and file where
// there is one, for Bytes (and Seconds of storage), with Counterparty.
type Charge struct {
	Time         time.Time `json:"time"`
	Identity     string    `json:"identity"`
	Amount       int64     `json:"amount"`
	Kind         string    `json:"kind"`
	Volume       string    `json:"volume,omitempty" metadata:",optional"`
	File         string    `json:"file,omitempty" metadata:",optional"`
	Bytes        int64     `json:"bytes,omitempty" metadata:",optional"`
	Seconds      float64   `json:"seconds,omitempty" metadata:",optional"`
	Counterparty string    `json:"counterparty,omitempty" metadata:",optional"`
	TxID         string    `json:"txId,omitempty" metadata:",optional"`
}

// ActorID names a caller as the chaincode does: the MSP id and the first
// 16 bytes of SHA-256 over its certificate's SubjectPublicKeyInfo, in hex.
func ActorID(mspID string, spkiDER []byte) string {
	sum := sha256.Sum256(spkiDER)
	return mspID + "/" + hex.EncodeToString(sum[:16])
}

// KeyID names a grantee key: the first 16 bytes of SHA-256 over the
// Ed25519 public key, in hex.
func KeyID(ed25519Key []byte) string {
	sum := sha256.Sum256(ed25519Key)
	return hex.EncodeToString(sum[:16])
}

// JoinLabel starts the message a grantee key signs to join a volume.
const JoinLabel = "anchorfs join v1\x00"

// JoinMessage is what a grantee key signs for actor to join volume:
// JoinLabel || volume || 0 || actor.
func JoinMessage(volume, actor string) []byte {
	return []byte(JoinLabel + volume + "\x00" + actor)
}

// Code names a kind of refusal; clients act on codes, never on messages.
type Code string

// The codes the chaincode answers with.
const (
	// NotAnchored: the file has no anchored version.
	NotAnchored Code = "not-anchored"
	// NoHead: the volume or shared folder has no anchored head.
	NoHead Code = "no-head"
	// NotMember: the caller is neither the volume's owner nor a joined
	// grantee whose grants cover the record (the same whether or not the
	// volume exists).
	NotMember Code = "not-member"
	// OwnedByOther: the volume is registered to someone else.
	OwnedByOther Code = "owned-by-other"
	// NoGrant: the key has no active grant on the volume.
	NoGrant Code = "no-grant"
	// NotOperator: only the ledger's operator may mint or set prices.
	NotOperator Code = "not-operator"
	// Insufficient: the balance cannot cover the amount.
	Insufficient Code = "insufficient"
)

// codePrefix starts the message of an error with a code; it survives
// Fabric's wrapping of chaincode errors into gateway errors as text.
const codePrefix = "anchorfs/"

// Errorf is an error carrying code: "anchorfs/CODE: message".
func Errorf(code Code, format string, args ...any) error {
	return &codedError{code: code, msg: fmt.Sprintf(format, args...)}
}

type codedError struct {
	code Code
	msg  string
}

func (e *codedError) Error() string { return codePrefix + string(e.code) + ": " + e.msg }

// CodeOf is the code an error carries, "" if none: directly, or in the
// text of a chaincode error a client got back from either ledger.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var c *codedError
	if errors.As(err, &c) {
		return c.code
	}
	msg := err.Error()
	i := strings.Index(msg, codePrefix)
	if i < 0 {
		return ""
	}
	rest := msg[i+len(codePrefix):]
	if j := strings.Index(rest, ":"); j > 0 {
		return Code(rest[:j])
	}
	return ""
}
