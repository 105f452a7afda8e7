package chaincode

import (
	"encoding/json"
	"fmt"
	"github.com/anchorfs/anchorfs/chaincode/wire"
	"strconv"
	"time"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

// validateHead checks a head anchor before anything is written.
func validateHead(h *wire.HeadVersion) error {
	if err := checkVolumeDomain(h.Volume, h.Domain); err != nil {
		return err
	}
	if err := checkHash("head hash", h.Hash); err != nil {
		return err
	}
	if h.Seq == 0 {
		return fmt.Errorf("head %s: seq 0 (heads count from 1)", h.Hash)
	}
	if len(h.Parents) > wire.MaxParents {
		return fmt.Errorf("head %s: %d parents, at most %d", h.Hash, len(h.Parents), wire.MaxParents)
	}
	for _, p := range h.Parents {
		if err := checkHash("parent head", p); err != nil {
			return err
		}
	}
	return nil
}

// newerHead reports whether h comes after cur in the order of heads: the
// greater seq, and of equal seqs the greater hash (as readers choose).
func newerHead(h, cur *wire.HeadVersion) bool {
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
func (c *FilesContract) Commit(ctx contractapi.TransactionContextInterface, anchorsJSON, headsJSON string) (*wire.CommitOutcome, error) {
	var anchors []wire.FileVersion
	if err := json.Unmarshal([]byte(anchorsJSON), &anchors); err != nil {
		return nil, fmt.Errorf("anchors are not a JSON list of file versions: %w", err)
	}
	var heads []wire.HeadVersion
	if err := json.Unmarshal([]byte(headsJSON), &heads); err != nil {
		return nil, fmt.Errorf("heads are not a JSON list of heads: %w", err)
	}
	return c.commit(ctx, anchors, heads)
}

// anchorHeads records heads (after n versions' events) for commit.
func (c *FilesContract) anchorHeads(ctx contractapi.TransactionContextInterface, access *writeAccess, heads []wire.HeadVersion, n int, now time.Time) ([]wire.Outcome, error) {
	stub := ctx.GetStub()
	out := make([]wire.Outcome, len(heads))
	// Fabric's GetState does not see the transaction's own writes: the
	// newest head of each key so far in this batch.
	newest := map[string]*wire.HeadVersion{}
	for i, h := range heads {
		reason, _, err := access.deny(h.Volume, h.Domain)
		if err != nil {
			return nil, err
		}
		if reason != "" {
			if err := putEvent(ctx, n+i, wire.Event{Time: now, Actor: access.actor, Action: "denied", Volume: h.Volume,
				Detail: map[string]string{"domain": h.Domain, "head": h.Hash, "reason": reason}}); err != nil {
				return nil, err
			}
			out[i] = wire.Outcome{Status: wire.StatusDenied, Reason: reason}
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
			out[i] = wire.Outcome{Status: wire.StatusExists}
			continue
		}
		h.Actor, h.TxID, h.Time = access.actor, stub.GetTxID(), now
		if newerHead(&h, cur) {
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
		if err := putEvent(ctx, n+i, wire.Event{Time: now, Actor: access.actor, Action: "head", Volume: h.Volume, Detail: detail}); err != nil {
			return nil, err
		}
		out[i] = wire.Outcome{Status: wire.StatusAnchored}
	}
	return out, nil
}

func getHead(ctx contractapi.TransactionContextInterface, key string) (*wire.HeadVersion, error) {
	b, err := ctx.GetStub().GetState(key)
	if err != nil || b == nil {
		return nil, err
	}
	var h wire.HeadVersion
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("stored head %q is corrupt: %w", key, err)
	}
	return &h, nil
}

// LatestHead returns the newest anchored head of a volume (domain "") or
// of one of its shared folders, to its owner and the grantees of the folder.
func (c *FilesContract) LatestHead(ctx contractapi.TransactionContextInterface, volume, domain string) (*wire.HeadVersion, error) {
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
		return nil, wire.Errorf(wire.NoHead, "volume %s domain %q has no head anchored", volume, domain)
	}
	return h, nil
}
