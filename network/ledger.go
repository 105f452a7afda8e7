// Package network defines how the drive reaches a ledger; embedded and fabric implement it.
package network

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/anchorfs/anchorfs/chaincode/wire"
)

// Errors a Ledger reports; implementations wrap them so callers can use errors.Is.
var (
	// ErrNotFound: the ledger has no record of the file.
	ErrNotFound = errors.New("not found on the ledger")
	// ErrStale: the anchor names a previous version that is not the latest.
	ErrStale = errors.New("stale version")
	// ErrDenied: the chaincode refused the caller.
	ErrDenied = errors.New("denied by policy")
	// ErrUnavailable: the ledger cannot be reached now; try again later.
	ErrUnavailable = errors.New("ledger unavailable")
	// ErrUnpaid: the writer's storage reserve cannot pay; the anchor waits
	// for a reserve (Reserve) and is tried again.
	ErrUnpaid = errors.New("storage unpaid")
	// ErrInsufficient: the balance cannot cover the amount.
	ErrInsufficient = errors.New("insufficient balance")
)

// The ledger's records, as the ledger protocol (package wire) defines them.
type (
	// Anchor commits one file version: who replaced what with which ciphertext.
	Anchor = wire.FileVersion
	// Head commits one head: a state of a volume's tree (Domain "") or of
	// one of its shared folders; the ledger keeps the newest of each.
	Head = wire.HeadVersion
	// Event is one audit record.
	Event = wire.Event
	// Grant gives a grantee key rights on a shared folder (a domain) of a volume.
	Grant = wire.Grant
	// Node is one storage node of a volume, with its scrub record.
	Node = wire.Node
	// ScrubResult is what a scrub found on one node.
	ScrubResult = wire.ScrubResult
	// Account is an identity's tokens; Prices the operator's price list;
	// Lane one writer's storage account of a volume; Charge one line of
	// a statement.
	Account = wire.Account
	Prices  = wire.Prices
	Lane    = wire.Lane
	Charge  = wire.Charge
)

// AnchorResult is the outcome of one anchor of a batch: Err is nil when it
// was committed, wraps ErrStale (Current then holds the ledger's latest),
// ErrDenied (with the chaincode's reason) or another error when it was
// rejected. Rejecting one anchor never rejects the
// rest of its batch.
type AnchorResult struct {
	Err     error
	Current *Anchor
}

// AuditQuery selects events; zero fields match everything.
type AuditQuery struct {
	Volume string
	File   string
	Actor  string
	Action string
	Since  time.Time
	Until  time.Time
}

// Info describes a ledger.
type Info struct {
	Kind string `json:"kind"` // "embedded" or "fabric"
	// ID names the chain for good: "embedded:" and the hash of its first
	// block, or "fabric:CHANNEL/CHAINCODE:" and the hash of the channel's
	// first block. A volume's config records the ID of its ledger.
	ID     string `json:"id"`
	Where  string `json:"where"`
	Height uint64 `json:"height"`
	Head   string `json:"head"` // hash of the newest block, hex
	// Signer is the embedded ledger's node key, hex: what its proofs are
	// signed with.
	Signer string `json:"signer,omitempty"`
}

// Block is one committed block as the ledger reports it.
type Block struct {
	Number   uint64    `json:"number"`
	Hash     string    `json:"hash"`
	PrevHash string    `json:"prevHash"`
	Time     time.Time `json:"time"`
	TxIDs    []string  `json:"txIds"`
}

// Follower is a Ledger that tells of file versions as they are committed,
// whoever anchored them (on Fabric, the chaincode's "anchored" events).
type Follower interface {
	// Follow calls fn with the versions each committed transaction
	// anchored, from now until ctx ends or the stream breaks.
	Follow(ctx context.Context, fn func([]Anchor)) error
}

// Ledger is what the drive needs of a ledger. Implementations are safe for
// concurrent use.
type Ledger interface {
	// AnchorBatch commits many file versions, and heads, in as few
	// transactions as possible and reports each one's outcome, in order:
	// one per anchor, then one per head (a head is never stale; Current is
	// nil). The error is for failures of the whole call (ErrUnavailable and
	// the like).
	AnchorBatch(ctx context.Context, anchors []Anchor, heads ...Head) ([]AnchorResult, error)
	// Latest returns the newest anchored version of a file (ErrNotFound if
	// none). Reads of a volume's records (Latest, LatestHead, History,
	// Grants, Audit) answer its owner, and a joined grantee what its grants
	// cover; anyone else gets ErrDenied.
	Latest(ctx context.Context, volume, file string) (Anchor, error)
	// LatestMany is Latest for many files of a volume at once (at most
	// wire.MaxQuery), in order; a file never anchored, or one the caller
	// may not read, has Version 0. Only the volume's members may ask.
	LatestMany(ctx context.Context, volume string, files []string) ([]Anchor, error)
	// LatestHead returns the newest anchored head of a volume (domain "")
	// or of one of its shared folders (ErrNotFound if none).
	LatestHead(ctx context.Context, volume, domain string) (Head, error)
	// History returns every anchored version of a file, oldest first.
	History(ctx context.Context, volume, file string) ([]Anchor, error)
	// Record commits audit events (reads, integrity failures, ...).
	Record(ctx context.Context, events []Event) error
	// Audit returns the events that match q, oldest first.
	Audit(ctx context.Context, q AuditQuery) ([]Event, error)
	// Register makes the caller the owner of a volume (no-op if it already is).
	Register(ctx context.Context, volume string) error
	// Owner returns the volume's owner actor, to its members (ErrDenied to
	// anyone else, and for a volume never registered: the ledger tells
	// nothing of a volume to those outside it).
	Owner(ctx context.Context, volume string) (string, error)
	// Grant records a grant; ErrDenied (wrapped, with the chaincode's reason) if the caller may not.
	Grant(ctx context.Context, g Grant) error
	// Revoke marks a grant revoked; ErrDenied if the caller may not.
	Revoke(ctx context.Context, volume, domain, granteeKey string) error
	// Grants lists a volume's grants (domain "" for all), revoked ones included.
	Grants(ctx context.Context, volume, domain string) ([]Grant, error)
	// GrantHistory lists the grants later grants to the same key replaced.
	GrantHistory(ctx context.Context, volume, domain string) ([]Grant, error)
	// Join binds the caller to a grantee key, proving it holds the key's private half.
	Join(ctx context.Context, volume, granteeKey, signature string) error
	// SetNodes makes nodes the volume's storage nodes (ErrDenied but for
	// the owner); nodes left out are kept, marked removed.
	SetNodes(ctx context.Context, volume string, nodes []Node) error
	// Nodes lists the volume's storage nodes, removed ones too, with their
	// scrub records, to its members.
	Nodes(ctx context.Context, volume string) ([]Node, error)
	// RecordScrub records what a scrub found on each node (ErrDenied but
	// for the owner): an audit event each, added to the node's record.
	RecordScrub(ctx context.Context, volume string, results []ScrubResult) error
	// Operator is the identity that mints tokens and sets prices.
	Operator(ctx context.Context) (string, error)
	// Balance is an identity's account ("" for the caller's; another's to
	// the operator only).
	Balance(ctx context.Context, identity string) (Account, error)
	// Mint gives micro-tokens (ErrDenied but for the operator, recorded).
	Mint(ctx context.Context, to string, amount int64) error
	// Transfer pays micro-tokens of the caller's balance (ErrInsufficient).
	Transfer(ctx context.Context, to string, amount int64) error
	// Prices is the price list in force; SetPrices sets it (the operator).
	Prices(ctx context.Context) (Prices, error)
	SetPrices(ctx context.Context, p Prices) error
	// Reserve sets micro-tokens of the volume owner's balance aside for a
	// writer's lane (ErrInsufficient); Lane reads one.
	Reserve(ctx context.Context, volume, lane string, amount int64) (Lane, error)
	Lane(ctx context.Context, volume, lane string) (Lane, error)
	// Usage is an identity's charges since a time ("" for the caller's).
	Usage(ctx context.Context, identity string, since time.Time) ([]Charge, error)
	// Info describes the ledger and its height.
	Info(ctx context.Context) (Info, error)
	// Blocks calls fn for each block from number from on.
	Blocks(ctx context.Context, from uint64, fn func(Block) error) error
	// Actor is how the ledger names this client: MSP id and the hash of its
	// certificate's public key, as the chaincode sees callers.
	Actor() string
	// Close releases the ledger.
	Close() error
}

// Proof shows, to someone who has only it, that a file version was anchored:
// the block that holds the anchoring transaction, exactly as the ledger
// keeps it, and what ties that block to the ledger (the signature of the
// embedded ledger's node; on Fabric, the headers of every later block up to
// the head, whose hash anyone with access to the channel can compare).
type Proof struct {
	Format int    `json:"format"` // 1
	Kind   string `json:"kind"`   // "embedded" or "fabric"
	Anchor Anchor `json:"anchor"`
	Path   string `json:"path,omitempty"` // where the file was, for the reader; not proven
	Block  []byte `json:"block"`
	// Embedded: the node's Ed25519 signature over the block's hash, and its key.
	Signature []byte `json:"signature,omitempty"`
	NodeKey   []byte `json:"nodeKey,omitempty"`
	// Fabric: the serialized headers of the blocks after Block, in order.
	Headers [][]byte `json:"headers,omitempty"`
}

// ProofCheck is what checking a proof established.
type ProofCheck struct {
	Block     uint64    `json:"block"`
	BlockHash string    `json:"blockHash"`
	Head      uint64    `json:"head"`     // the last block the proof reaches
	HeadHash  string    `json:"headHash"` // compare with `anchorfs ledger info`
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"`
	Signer    string    `json:"signer,omitempty"` // embedded: the node key, hex
}

// Prover is a Ledger that makes proofs of anchored versions.
type Prover interface {
	// Prove makes the proof of an anchored version (Anchor.TxID names its
	// transaction, as History returns it).
	Prove(ctx context.Context, a Anchor) (Proof, error)
}

// ErrBadProof means a proof does not show what it claims.
var ErrBadProof = errors.New("the proof does not hold")

// MatchesAnchor reports whether a stored anchor value (the chaincode's JSON
// of a file version) is the anchor a proof claims.
func MatchesAnchor(value []byte, a Anchor) (Anchor, bool) {
	var got Anchor
	if err := json.Unmarshal(value, &got); err != nil {
		return got, false
	}
	return got, got.Volume == a.Volume && got.File == a.File && got.Version == a.Version &&
		got.ManifestHash == a.ManifestHash && got.MerkleRoot == a.MerkleRoot && got.Size == a.Size && got.TxID == a.TxID
}
