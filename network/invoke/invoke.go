// Package invoke is the drive's ledger calls over any transactor: each a call of a chaincode function, its answer read back and its refusals turned into network's errors; the embedded and the Fabric ledger are both this client over their own transactor.
package invoke

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/anchorfs/anchorfs/chaincode/wire"
	"github.com/anchorfs/anchorfs/network"
)

// Transactor runs chaincode functions ("Contract:Function").
type Transactor interface {
	// Submit runs the function as a transaction and waits for its commit.
	Submit(ctx context.Context, fn string, args ...string) ([]byte, error)
	// Evaluate runs the function without committing anything.
	Evaluate(ctx context.Context, fn string, args ...string) ([]byte, error)
}

// Client is the part of network.Ledger that calls the chaincode, over T.
type Client struct {
	T Transactor
}

// refusal turns an error the chaincode answered with into network's: by
// its wire code, never by its message.
func refusal(err error) error {
	switch wire.CodeOf(err) {
	case wire.NotAnchored, wire.NoHead:
		return fmt.Errorf("%w: %v", network.ErrNotFound, err)
	case wire.NotMember, wire.OwnedByOther, wire.NoGrant, wire.NotOperator:
		return fmt.Errorf("%w: %v", network.ErrDenied, err)
	case wire.Insufficient:
		return fmt.Errorf("%w: %v", network.ErrInsufficient, err)
	}
	return err
}

// evaluate runs a query and reads its answer into out.
func (c Client) evaluate(ctx context.Context, out any, fn string, args ...string) error {
	payload, err := c.T.Evaluate(ctx, fn, args...)
	if err != nil {
		return refusal(err)
	}
	if err := json.Unmarshal(payload, out); err != nil {
		return fmt.Errorf("%s answered %q: %w", fn, payload, err)
	}
	return nil
}

// AnchorBatch anchors file versions, wire.BatchSize per transaction, and
// heads with the last of them.
func (c Client) AnchorBatch(ctx context.Context, anchors []network.Anchor, heads ...network.Head) ([]network.AnchorResult, error) {
	out := make([]network.AnchorResult, 0, len(anchors)+len(heads))
	for start := 0; start < len(anchors) || (start == 0 && len(heads) > 0); start += wire.BatchSize {
		part := anchors[start:min(start+wire.BatchSize, len(anchors))]
		b, _ := json.Marshal(part)
		if start+wire.BatchSize < len(anchors) {
			payload, err := c.T.Submit(ctx, "Files:AnchorBatch", string(b))
			if err != nil {
				return nil, refusal(err)
			}
			var outcomes []wire.Outcome
			if err := json.Unmarshal(payload, &outcomes); err != nil || len(outcomes) != len(part) {
				return nil, fmt.Errorf("the chaincode answered %q", payload)
			}
			out = appendResults(out, outcomes)
			continue
		}
		if heads == nil {
			heads = []network.Head{}
		}
		hb, _ := json.Marshal(heads)
		payload, err := c.T.Submit(ctx, "Files:Commit", string(b), string(hb))
		if err != nil {
			return nil, refusal(err)
		}
		var o wire.CommitOutcome
		if err := json.Unmarshal(payload, &o); err != nil || len(o.Versions) != len(part) || len(o.Heads) != len(heads) {
			return nil, fmt.Errorf("the chaincode answered %q", payload)
		}
		out = appendResults(appendResults(out, o.Versions), o.Heads)
	}
	return out, nil
}

// appendResults turns the chaincode's outcomes into results.
func appendResults(out []network.AnchorResult, outcomes []wire.Outcome) []network.AnchorResult {
	for _, o := range outcomes {
		r := network.AnchorResult{Current: o.Current}
		switch o.Status {
		case wire.StatusStale:
			r.Err = network.ErrStale
		case wire.StatusDenied:
			r.Err = fmt.Errorf("%w: %s", network.ErrDenied, o.Reason)
		case wire.StatusUnpaid:
			r.Err = fmt.Errorf("%w: %s", network.ErrUnpaid, o.Reason)
		}
		out = append(out, r)
	}
	return out
}

// LatestHead returns the newest anchored head of a volume or shared folder.
func (c Client) LatestHead(ctx context.Context, volume, domain string) (network.Head, error) {
	var h network.Head
	err := c.evaluate(ctx, &h, "Files:LatestHead", volume, domain)
	return h, err
}

// Latest returns the newest anchored version of a file.
func (c Client) Latest(ctx context.Context, volume, file string) (network.Anchor, error) {
	var v network.Anchor
	err := c.evaluate(ctx, &v, "Files:Latest", volume, file)
	return v, err
}

// LatestMany returns the newest anchored version of each of files.
func (c Client) LatestMany(ctx context.Context, volume string, files []string) ([]network.Anchor, error) {
	if len(files) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(files)
	if err != nil {
		return nil, err
	}
	var vs []network.Anchor
	if err := c.evaluate(ctx, &vs, "Files:LatestMany", volume, string(b)); err != nil {
		return nil, err
	}
	if len(vs) != len(files) {
		return nil, fmt.Errorf("the ledger answered %d files of %d", len(vs), len(files))
	}
	return vs, nil
}

// History returns every anchored version of a file, oldest first.
func (c Client) History(ctx context.Context, volume, file string) ([]network.Anchor, error) {
	var vs []network.Anchor
	err := c.evaluate(ctx, &vs, "Files:History", volume, file)
	return vs, err
}

// Record commits audit events.
func (c Client) Record(ctx context.Context, events []network.Event) error {
	b, _ := json.Marshal(events)
	_, err := c.T.Submit(ctx, "Audit:Record", string(b))
	return refusal(err)
}

// Audit returns the events that match q, a page of the ledger's at a time.
func (c Client) Audit(ctx context.Context, q network.AuditQuery) ([]network.Event, error) {
	cq := wire.Query{Volume: q.Volume, File: q.File, Actor: q.Actor, Action: q.Action}
	if !q.Since.IsZero() {
		cq.Since = q.Since.UTC().Format(time.RFC3339Nano)
	}
	if !q.Until.IsZero() {
		cq.Until = q.Until.UTC().Format(time.RFC3339Nano)
	}
	evs := []network.Event{}
	for {
		b, _ := json.Marshal(cq)
		var page wire.EventPage
		if err := c.evaluate(ctx, &page, "Audit:Events", string(b)); err != nil {
			return nil, err
		}
		evs = append(evs, page.Events...)
		if page.Next == "" {
			return evs, nil
		}
		cq.After = page.Next
	}
}

// Register makes the caller the owner of a volume; a volume someone else
// owns is ErrDenied.
func (c Client) Register(ctx context.Context, volume string) error {
	_, err := c.T.Submit(ctx, "Policy:Register", volume)
	return refusal(err)
}

// Owner returns the actor that owns a volume, to its members (ErrDenied
// to anyone else, and for a volume never registered).
func (c Client) Owner(ctx context.Context, volume string) (string, error) {
	payload, err := c.T.Evaluate(ctx, "Policy:Owner", volume)
	if err != nil {
		return "", refusal(err)
	}
	return string(payload), nil
}

// policyOutcome reads a Grant's or Revoke's answer: a denial is ErrDenied.
func policyOutcome(payload []byte, want string) error {
	var o wire.PolicyOutcome
	if err := json.Unmarshal(payload, &o); err != nil {
		return fmt.Errorf("the chaincode answered %q", payload)
	}
	switch o.Status {
	case want:
		return nil
	case wire.StatusDenied:
		return fmt.Errorf("%w: %s", network.ErrDenied, o.Reason)
	}
	return fmt.Errorf("the chaincode answered %q", payload)
}

// Grant records a grant of the caller's volume.
func (c Client) Grant(ctx context.Context, g network.Grant) error {
	payload, err := c.T.Submit(ctx, "Policy:Grant", g.Volume, g.Domain, g.Path, g.GranteeKey, g.Rights,
		base64.StdEncoding.EncodeToString(g.Keys), strconv.FormatUint(uint64(g.Epoch), 10), g.Recipient)
	if err != nil {
		return refusal(err)
	}
	return policyOutcome(payload, wire.StatusGranted)
}

// Revoke marks a grant revoked.
func (c Client) Revoke(ctx context.Context, volume, domain, granteeKey string) error {
	payload, err := c.T.Submit(ctx, "Policy:Revoke", volume, domain, granteeKey)
	if err != nil {
		return refusal(err)
	}
	return policyOutcome(payload, wire.StatusRevoked)
}

// Grants lists a volume's grants on a domain ("" for all), revoked ones included.
func (c Client) Grants(ctx context.Context, volume, domain string) ([]network.Grant, error) {
	out := []network.Grant{}
	err := c.evaluate(ctx, &out, "Policy:Grants", volume, domain)
	return out, err
}

// GrantHistory lists a volume's grants that later ones replaced.
func (c Client) GrantHistory(ctx context.Context, volume, domain string) ([]network.Grant, error) {
	out := []network.Grant{}
	err := c.evaluate(ctx, &out, "Policy:GrantHistory", volume, domain)
	return out, err
}

// Join binds the caller to a grantee key; signature is the key's signature
// over wire.JoinMessage, unpadded base64url. A key without a grant is ErrDenied.
func (c Client) Join(ctx context.Context, volume, granteeKey, signature string) error {
	_, err := c.T.Submit(ctx, "Policy:Join", volume, granteeKey, signature)
	return refusal(err)
}

// SetNodes makes nodes the volume's storage nodes (the owner only).
func (c Client) SetNodes(ctx context.Context, volume string, nodes []network.Node) error {
	b, err := json.Marshal(nodes)
	if err != nil {
		return err
	}
	payload, err := c.T.Submit(ctx, "Nodes:SetNodes", volume, string(b))
	if err != nil {
		return refusal(err)
	}
	return policyOutcome(payload, "set")
}

// Nodes lists the volume's storage nodes with their scrub records.
func (c Client) Nodes(ctx context.Context, volume string) ([]network.Node, error) {
	out := []network.Node{}
	err := c.evaluate(ctx, &out, "Nodes:Nodes", volume)
	return out, err
}

// RecordScrub records what a scrub found on each node (the owner only).
func (c Client) RecordScrub(ctx context.Context, volume string, results []network.ScrubResult) error {
	b, err := json.Marshal(results)
	if err != nil {
		return err
	}
	payload, err := c.T.Submit(ctx, "Nodes:RecordScrub", volume, string(b))
	if err != nil {
		return refusal(err)
	}
	return policyOutcome(payload, "recorded")
}

// Operator returns the ledger's operator ("" if none has claimed it).
func (c Client) Operator(ctx context.Context) (string, error) {
	payload, err := c.T.Evaluate(ctx, "Tokens:Operator")
	if err != nil {
		return "", refusal(err)
	}
	return string(payload), nil
}

// Balance returns an identity's account ("" for the caller's own).
func (c Client) Balance(ctx context.Context, identity string) (network.Account, error) {
	var a network.Account
	err := c.evaluate(ctx, &a, "Tokens:Balance", identity)
	return a, err
}

// Mint gives an identity micro-tokens (the operator only).
func (c Client) Mint(ctx context.Context, to string, amount int64) error {
	payload, err := c.T.Submit(ctx, "Tokens:Mint", to, strconv.FormatInt(amount, 10))
	if err != nil {
		return refusal(err)
	}
	return policyOutcome(payload, "minted")
}

// Transfer pays another identity micro-tokens of the caller's balance.
func (c Client) Transfer(ctx context.Context, to string, amount int64) error {
	payload, err := c.T.Submit(ctx, "Tokens:Transfer", to, strconv.FormatInt(amount, 10))
	if err != nil {
		return refusal(err)
	}
	return policyOutcome(payload, "transferred")
}

// Prices returns the price list in force.
func (c Client) Prices(ctx context.Context) (network.Prices, error) {
	var p network.Prices
	err := c.evaluate(ctx, &p, "Tokens:Prices")
	return p, err
}

// SetPrices sets the price list (the operator only).
func (c Client) SetPrices(ctx context.Context, p network.Prices) error {
	payload, err := c.T.Submit(ctx, "Tokens:SetPrices", strconv.FormatInt(p.Storage, 10), strconv.FormatInt(p.Read, 10))
	if err != nil {
		return refusal(err)
	}
	return policyOutcome(payload, "set")
}

// Reserve sets micro-tokens of the volume owner's balance aside for a
// writer's lane.
func (c Client) Reserve(ctx context.Context, volume, lane string, amount int64) (network.Lane, error) {
	payload, err := c.T.Submit(ctx, "Tokens:Reserve", volume, lane, strconv.FormatInt(amount, 10))
	if err != nil {
		return network.Lane{}, refusal(err)
	}
	var l network.Lane
	if err := json.Unmarshal(payload, &l); err != nil {
		return l, fmt.Errorf("Tokens:Reserve answered %q: %w", payload, err)
	}
	return l, nil
}

// Lane returns a writer's lane of a volume.
func (c Client) Lane(ctx context.Context, volume, lane string) (network.Lane, error) {
	var l network.Lane
	err := c.evaluate(ctx, &l, "Tokens:Lane", volume, lane)
	return l, err
}

// Usage returns an identity's charges ("" for the caller's own) since a
// time (zero for all), a page of the ledger's at a time.
func (c Client) Usage(ctx context.Context, identity string, since time.Time) ([]network.Charge, error) {
	s := ""
	if !since.IsZero() {
		s = since.UTC().Format(time.RFC3339Nano)
	}
	out := []network.Charge{}
	after := ""
	for {
		var page struct {
			Charges []network.Charge `json:"charges"`
			Next    string           `json:"next"`
		}
		if err := c.evaluate(ctx, &page, "Tokens:Usage", identity, s, after); err != nil {
			return nil, err
		}
		out = append(out, page.Charges...)
		if page.Next == "" {
			return out, nil
		}
		after = page.Next
	}
}
