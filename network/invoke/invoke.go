// Package invoke turns the drive's ledger calls into calls of the chaincode's functions and their answers back; the embedded and the Fabric ledger share it.
package invoke

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/anchorfs/anchorfs/chaincode"
	"github.com/anchorfs/anchorfs/network"
)

// Transactor runs chaincode functions ("Contract:Function").
type Transactor interface {
	// Submit runs the function as a transaction and waits for its commit.
	Submit(ctx context.Context, fn string, args ...string) ([]byte, error)
	// Evaluate runs the function without committing anything.
	Evaluate(ctx context.Context, fn string, args ...string) ([]byte, error)
}

// AnchorBatch anchors file versions, perTx per transaction.
func AnchorBatch(ctx context.Context, t Transactor, anchors []network.Anchor, perTx int) ([]network.AnchorResult, error) {
	out := make([]network.AnchorResult, 0, len(anchors))
	for start := 0; start < len(anchors); start += perTx {
		part := anchors[start:min(start+perTx, len(anchors))]
		b, _ := json.Marshal(part)
		payload, err := t.Submit(ctx, "Files:AnchorBatch", string(b))
		if err != nil {
			return nil, err
		}
		var outcomes []chaincode.Outcome
		if err := json.Unmarshal(payload, &outcomes); err != nil || len(outcomes) != len(part) {
			return nil, fmt.Errorf("the chaincode answered %q", payload)
		}
		for _, o := range outcomes {
			r := network.AnchorResult{}
			if o.Current != nil {
				c := anchorOf(*o.Current)
				r.Current = &c
			}
			if o.Status == chaincode.StatusStale {
				r.Err = network.ErrStale
			}
			out = append(out, r)
		}
	}
	return out, nil
}

func anchorOf(v chaincode.FileVersion) network.Anchor {
	return network.Anchor{Volume: v.Volume, File: v.File, Version: v.Version, PrevVersion: v.PrevVersion,
		MerkleRoot: v.MerkleRoot, ManifestHash: v.ManifestHash, Size: v.Size, Actor: v.Actor, TxID: v.TxID, Time: v.Time}
}

// Latest returns the newest anchored version of a file.
func Latest(ctx context.Context, t Transactor, volume, file string) (network.Anchor, error) {
	payload, err := t.Evaluate(ctx, "Files:Latest", volume, file)
	if err != nil {
		if strings.Contains(err.Error(), chaincode.ErrNotAnchored.Error()) {
			return network.Anchor{}, fmt.Errorf("%w: file %s", network.ErrNotFound, file)
		}
		return network.Anchor{}, err
	}
	var v chaincode.FileVersion
	if err := json.Unmarshal(payload, &v); err != nil {
		return network.Anchor{}, err
	}
	return anchorOf(v), nil
}

// History returns every anchored version of a file, oldest first.
func History(ctx context.Context, t Transactor, volume, file string) ([]network.Anchor, error) {
	payload, err := t.Evaluate(ctx, "Files:History", volume, file)
	if err != nil {
		return nil, err
	}
	var vs []chaincode.FileVersion
	if err := json.Unmarshal(payload, &vs); err != nil {
		return nil, err
	}
	out := make([]network.Anchor, len(vs))
	for i, v := range vs {
		out[i] = anchorOf(v)
	}
	return out, nil
}

// Record commits audit events.
func Record(ctx context.Context, t Transactor, events []network.Event) error {
	b, _ := json.Marshal(events)
	_, err := t.Submit(ctx, "Audit:Record", string(b))
	return err
}

// Audit returns the events that match q.
func Audit(ctx context.Context, t Transactor, q network.AuditQuery) ([]network.Event, error) {
	cq := chaincode.Query{Volume: q.Volume, File: q.File, Actor: q.Actor, Action: q.Action}
	if !q.Since.IsZero() {
		cq.Since = q.Since.UTC().Format(time.RFC3339Nano)
	}
	if !q.Until.IsZero() {
		cq.Until = q.Until.UTC().Format(time.RFC3339Nano)
	}
	b, _ := json.Marshal(cq)
	payload, err := t.Evaluate(ctx, "Audit:Events", string(b))
	if err != nil {
		return nil, err
	}
	var evs []network.Event
	if err := json.Unmarshal(payload, &evs); err != nil {
		return nil, err
	}
	return evs, nil
}
