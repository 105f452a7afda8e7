package chaincode

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

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
	// then those it merged).
	Parents []string  `json:"parents,omitempty" metadata:",optional"`
	Actor   string    `json:"actor,omitempty" metadata:",optional"`
	TxID    string    `json:"txId,omitempty" metadata:",optional"`
	Time    time.Time `json:"time,omitempty" metadata:",optional"`
}

// CommitOutcome is what became of each file version and head of a Commit,
// in order. A head is "anchored" (whether or not it is the newest),
// "exists" (it is the newest already: a retry) or "denied".
type CommitOutcome struct {
	Versions []Outcome `json:"versions"`
	Heads    []Outcome `json:"heads"`
}

// maxParents bounds the parents one head anchor names.
const maxParents = 64

// ErrNoHead is returned for a volume or shared folder with no anchored head.
var ErrNoHead = errors.New("no head anchored")

func (h *HeadVersion) validate() error {
	if err := checkVolumeDomain(h.Volume, h.Domain); err != nil {
		return err
	}
	if err := checkHash("head hash", h.Hash); err != nil {
		return err
	}
	if h.Seq == 0 {
		return fmt.Errorf("head %s: seq 0 (heads count from 1)", h.Hash)
	}
	if len(h.Parents) > maxParents {
		return fmt.Errorf("head %s: %d parents, at most %d", h.Hash, len(h.Parents), maxParents)
	}
	for _, p := range h.Parents {
		if err := checkHash("parent head", p); err != nil {
			return err
		}
	}
	return nil
}

// newer reports whether h comes after cur in the order of heads: the
// greater seq, and of equal seqs the greater hash (as readers choose).
func (h *HeadVersion) newer(cur *HeadVersion) bool {
	return cur == nil || h.Seq > cur.Seq || (h.Seq == cur.Seq && h.Hash > cur.Hash)
}

func headKey(ctx contractapi.TransactionContextInterface, volume, domain string) (string, error) {
	return ctx.GetStub().CreateCompositeKey(keyHead, []string{volume, domain})
}

// Commit anchors file versions and heads in one transaction: a writer's
// commit of its tree. Versions are handled as by AnchorBatch; a head may
// be anchored by the volume's owner, or in a shared folder by a joined
// grantee that may write it. The newest head of each volume and shared
// folder is kept (LatestHead); every anchored head is an audit event.
func (c *FilesContract) Commit(ctx contractapi.TransactionContextInterface, anchorsJSON, headsJSON string) (*CommitOutcome, error) {
	var anchors []FileVersion
	if err := json.Unmarshal([]byte(anchorsJSON), &anchors); err != nil {
		return nil, fmt.Errorf("anchors are not a JSON list of file versions: %w", err)
	}
	var heads []HeadVersion
	if err := json.Unmarshal([]byte(headsJSON), &heads); err != nil {
		return nil, fmt.Errorf("heads are not a JSON list of heads: %w", err)
	}
	return c.commit(ctx, anchors, heads)
}

// anchorHeads records heads (after n versions' events) for commit.
func (c *FilesContract) anchorHeads(ctx contractapi.TransactionContextInterface, access *writeAccess, heads []HeadVersion, n int, now time.Time) ([]Outcome, error) {
	stub := ctx.GetStub()
	out := make([]Outcome, len(heads))
	// Fabric's GetState does not see the transaction's own writes: the
	// newest head of each key so far in this batch.
	newest := map[string]*HeadVersion{}
	for i, h := range heads {
		reason, _, err := access.deny(h.Volume, h.Domain)
		if err != nil {
			return nil, err
		}
		if reason != "" {
			if err := putEvent(ctx, n+i, Event{Time: now, Actor: access.actor, Action: "denied", Volume: h.Volume,
				Detail: map[string]string{"domain": h.Domain, "head": h.Hash, "reason": reason}}); err != nil {
				return nil, err
			}
			out[i] = Outcome{Status: StatusDenied, Reason: reason}
			continue
		}
		key, err := headKey(ctx, h.Volume, h.Domain)
		if err != nil {
			return nil, err
		}
		cur, seen := newest[key]
		if !seen {
			if cur, err = getHead(ctx, key); err != nil {
				return nil, err
			}
		}
		if cur != nil && cur.Hash == h.Hash {
			out[i] = Outcome{Status: StatusExists}
			continue
		}
		h.Actor, h.TxID, h.Time = access.actor, stub.GetTxID(), now
		if h.newer(cur) {
			b, _ := json.Marshal(h)
			if err := stub.PutState(key, b); err != nil {
				return nil, err
			}
			newest[key] = &h
		} else {
			newest[key] = cur
		}
		detail := map[string]string{"head": h.Hash, "seq": strconv.FormatUint(h.Seq, 10)}
		if h.Domain != "" {
			detail["domain"] = h.Domain
		}
		if err := putEvent(ctx, n+i, Event{Time: now, Actor: access.actor, Action: "head", Volume: h.Volume, Detail: detail}); err != nil {
			return nil, err
		}
		out[i] = Outcome{Status: StatusAnchored}
	}
	return out, nil
}

func getHead(ctx contractapi.TransactionContextInterface, key string) (*HeadVersion, error) {
	b, err := ctx.GetStub().GetState(key)
	if err != nil || b == nil {
		return nil, err
	}
	var h HeadVersion
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("stored head %q is corrupt: %w", key, err)
	}
	return &h, nil
}

// LatestHead returns the newest anchored head of a volume (domain "") or
// of one of its shared folders, to its owner and the grantees of the folder.
func (c *FilesContract) LatestHead(ctx contractapi.TransactionContextInterface, volume, domain string) (*HeadVersion, error) {
	if err := checkVolumeDomain(volume, domain); err != nil {
		return nil, err
	}
	r, err := reader(ctx, volume)
	if err != nil {
		return nil, err
	}
	if !r.domain(domain) {
		return nil, r.denied("the heads of domain " + domain)
	}
	key, err := headKey(ctx, volume, domain)
	if err != nil {
		return nil, err
	}
	h, err := getHead(ctx, key)
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("%w: volume %s domain %q", ErrNoHead, volume, domain)
	}
	return h, nil
}
