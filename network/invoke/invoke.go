// Package invoke turns the drive's ledger calls into calls of the chaincode's functions and their answers back; the embedded and the Fabric ledger share it.
package invoke

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
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

// AnchorBatch anchors file versions, perTx per transaction, and heads
// with the last of them.
func AnchorBatch(ctx context.Context, t Transactor, anchors []network.Anchor, heads []network.Head, perTx int) ([]network.AnchorResult, error) {
	out := make([]network.AnchorResult, 0, len(anchors)+len(heads))
	for start := 0; start < len(anchors) || (start == 0 && len(heads) > 0); start += perTx {
		part := anchors[start:min(start+perTx, len(anchors))]
		last := start+perTx >= len(anchors)
		if !last {
			b, _ := json.Marshal(part)
			payload, err := t.Submit(ctx, "Files:AnchorBatch", string(b))
			if err != nil {
				return nil, err
			}
			var outcomes []chaincode.Outcome
			if err := json.Unmarshal(payload, &outcomes); err != nil || len(outcomes) != len(part) {
				return nil, fmt.Errorf("the chaincode answered %q", payload)
			}
			out = appendResults(out, outcomes)
			continue
		}
		b, _ := json.Marshal(part)
		hb, _ := json.Marshal(headVersions(heads))
		payload, err := t.Submit(ctx, "Files:Commit", string(b), string(hb))
		if err != nil {
			return nil, err
		}
		var o chaincode.CommitOutcome
		if err := json.Unmarshal(payload, &o); err != nil || len(o.Versions) != len(part) || len(o.Heads) != len(heads) {
			return nil, fmt.Errorf("the chaincode answered %q", payload)
		}
		out = appendResults(appendResults(out, o.Versions), o.Heads)
	}
	return out, nil
}

// appendResults turns the chaincode's outcomes into results.
func appendResults(out []network.AnchorResult, outcomes []chaincode.Outcome) []network.AnchorResult {
	for _, o := range outcomes {
		r := network.AnchorResult{}
		if o.Current != nil {
			c := anchorOf(*o.Current)
			r.Current = &c
		}
		switch o.Status {
		case chaincode.StatusStale:
			r.Err = network.ErrStale
		case chaincode.StatusDenied:
			r.Err = fmt.Errorf("%w: %s", network.ErrDenied, o.Reason)
		}
		out = append(out, r)
	}
	return out
}

func headVersions(heads []network.Head) []chaincode.HeadVersion {
	out := make([]chaincode.HeadVersion, len(heads))
	for i, h := range heads {
		out[i] = chaincode.HeadVersion{Volume: h.Volume, Domain: h.Domain, Hash: h.Hash, Seq: h.Seq, Parents: h.Parents}
	}
	return out
}

// LatestHead returns the newest anchored head of a volume or shared folder.
func LatestHead(ctx context.Context, t Transactor, volume, domain string) (network.Head, error) {
	payload, err := t.Evaluate(ctx, "Files:LatestHead", volume, domain)
	if err != nil {
		if strings.Contains(err.Error(), chaincode.ErrNoHead.Error()) {
			return network.Head{}, fmt.Errorf("%w: no head of volume %s", network.ErrNotFound, volume)
		}
		return network.Head{}, refused(err)
	}
	var h chaincode.HeadVersion
	if err := json.Unmarshal(payload, &h); err != nil {
		return network.Head{}, err
	}
	return network.Head{Volume: h.Volume, Domain: h.Domain, Hash: h.Hash, Seq: h.Seq, Parents: h.Parents,
		Actor: h.Actor, TxID: h.TxID, Time: h.Time}, nil
}

// refused turns the chaincode's answer to a caller that is not a member of
// the volume into ErrDenied.
func refused(err error) error {
	if err != nil && strings.Contains(err.Error(), chaincode.ErrNotMember.Error()) {
		return fmt.Errorf("%w: %v", network.ErrDenied, err)
	}
	return err
}

func anchorOf(v chaincode.FileVersion) network.Anchor {
	return network.Anchor{Volume: v.Volume, File: v.File, Version: v.Version, PrevVersion: v.PrevVersion,
		PrevManifestHash: v.PrevManifestHash, MerkleRoot: v.MerkleRoot, ManifestHash: v.ManifestHash, Size: v.Size, Domain: v.Domain, Actor: v.Actor, TxID: v.TxID, Time: v.Time}
}

// Latest returns the newest anchored version of a file.
func Latest(ctx context.Context, t Transactor, volume, file string) (network.Anchor, error) {
	payload, err := t.Evaluate(ctx, "Files:Latest", volume, file)
	if err != nil {
		if strings.Contains(err.Error(), chaincode.ErrNotAnchored.Error()) {
			return network.Anchor{}, fmt.Errorf("%w: file %s", network.ErrNotFound, file)
		}
		return network.Anchor{}, refused(err)
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
		return nil, refused(err)
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
	return refused(err)
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
		return nil, refused(err)
	}
	var evs []network.Event
	if err := json.Unmarshal(payload, &evs); err != nil {
		return nil, err
	}
	return evs, nil
}

// Register makes the caller the owner of a volume; a volume someone else
// owns is ErrDenied.
func Register(ctx context.Context, t Transactor, volume string) error {
	_, err := t.Submit(ctx, "Policy:Register", volume)
	if err != nil && strings.Contains(err.Error(), "is owned by") {
		return fmt.Errorf("%w: %v", network.ErrDenied, err)
	}
	return err
}

// Owner returns the actor that owns a volume, to its members (ErrDenied
// to anyone else, and for a volume never registered).
func Owner(ctx context.Context, t Transactor, volume string) (string, error) {
	payload, err := t.Evaluate(ctx, "Policy:Owner", volume)
	if err != nil {
		return "", refused(err)
	}
	return string(payload), nil
}

// policyOutcome reads a Grant's or Revoke's answer: a denial is ErrDenied.
func policyOutcome(payload []byte, want string) error {
	var o chaincode.PolicyOutcome
	if err := json.Unmarshal(payload, &o); err != nil {
		return fmt.Errorf("the chaincode answered %q", payload)
	}
	switch o.Status {
	case want:
		return nil
	case chaincode.StatusDenied:
		return fmt.Errorf("%w: %s", network.ErrDenied, o.Reason)
	}
	return fmt.Errorf("the chaincode answered %q", payload)
}

// Grant records a grant of the caller's volume.
func Grant(ctx context.Context, t Transactor, g network.Grant) error {
	payload, err := t.Submit(ctx, "Policy:Grant", g.Volume, g.Domain, g.Path, g.GranteeKey, g.Rights,
		base64.StdEncoding.EncodeToString(g.Keys), strconv.FormatUint(uint64(g.Epoch), 10), g.Recipient)
	if err != nil {
		return err
	}
	return policyOutcome(payload, chaincode.StatusGranted)
}

// Revoke marks a grant revoked.
func Revoke(ctx context.Context, t Transactor, volume, domain, granteeKey string) error {
	payload, err := t.Submit(ctx, "Policy:Revoke", volume, domain, granteeKey)
	if err != nil {
		return err
	}
	return policyOutcome(payload, chaincode.StatusRevoked)
}

// Grants lists a volume's grants on a domain ("" for all), revoked ones included.
func Grants(ctx context.Context, t Transactor, volume, domain string) ([]network.Grant, error) {
	payload, err := t.Evaluate(ctx, "Policy:Grants", volume, domain)
	if err != nil {
		return nil, refused(err)
	}
	out := []network.Grant{}
	if err := json.Unmarshal(payload, &out); err != nil {
		return nil, fmt.Errorf("the chaincode answered grants that are not readable: %w", err)
	}
	return out, nil
}

// Join binds the caller to a grantee key; signature is the key's signature
// over network.JoinMessage, unpadded base64url. A key without a grant is ErrDenied.
func Join(ctx context.Context, t Transactor, volume, granteeKey, signature string) error {
	_, err := t.Submit(ctx, "Policy:Join", volume, granteeKey, signature)
	if err != nil && strings.Contains(err.Error(), "no grant for this identity") {
		return fmt.Errorf("%w: %v", network.ErrDenied, err)
	}
	return err
}
