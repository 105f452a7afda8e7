package chaincode

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"
	"unicode"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"

	"github.com/anchorfs/anchorfs/chaincode/wire"
)

// keyNode is node~volume~id: one storage node of a volume.
const keyNode = "node"

// NodesContract keeps each volume's storage nodes (opaque ids, the payee
// of each) and the results of the scrubs that checked them, so that each
// node's reliability is on the ledger.
type NodesContract struct {
	contractapi.Contract
}

// SetNodes makes nodesJSON (a list of nodes: id, position, payee; none
// for a volume back on one remote) the volume's storage nodes; the owner
// only. Nodes no longer listed are kept, marked removed, with their record. Every node added or changed is an
// audit event.
func (c *NodesContract) SetNodes(ctx contractapi.TransactionContextInterface, volume, nodesJSON string) (*wire.PolicyOutcome, error) {
	if err := checkID("volume", volume); err != nil {
		return nil, err
	}
	var nodes []wire.Node
	if err := json.Unmarshal([]byte(nodesJSON), &nodes); err != nil {
		return nil, fmt.Errorf("nodes are not a JSON list: %w", err)
	}
	if len(nodes) > wire.MaxNodes {
		return nil, fmt.Errorf("at most %d nodes, not %d", wire.MaxNodes, len(nodes))
	}
	ids, positions := map[string]bool{}, map[int]bool{}
	for i, n := range nodes {
		if err := checkID("node", n.ID); err != nil {
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
		if n.Position < 1 || n.Position > wire.MaxNodes || positions[n.Position] || ids[n.ID] {
			return nil, fmt.Errorf("node %d: position %d taken or out of range, or id repeated", i, n.Position)
		}
		if err := checkPayee(n.Payee); err != nil {
			return nil, fmt.Errorf("node %d: %w", i, err)
		}
		if n.DataShards < 0 || n.DataShards > len(nodes) {
			return nil, fmt.Errorf("node %d: %d data shards of %d nodes", i, n.DataShards, len(nodes))
		}
		ids[n.ID], positions[n.Position] = true, true
	}
	actor, now, denied, err := ownerOnly(ctx, "SetNodes", volume, "")
	if err != nil || denied != nil {
		return denied, err
	}
	current, err := volumeNodes(ctx, volume)
	if err != nil {
		return nil, err
	}
	events := 0
	event := func(n wire.Node, what string) error {
		events++
		return putEvent(ctx, events, wire.Event{Time: now, Actor: actor, Action: "node", Volume: volume,
			Detail: map[string]string{"node": n.ID, "position": strconv.Itoa(n.Position), "payee": n.Payee, "change": what}})
	}
	for _, n := range nodes {
		old, known := current[n.ID]
		rec := n
		rec.Volume, rec.Added = volume, now
		if known {
			if old.Position == n.Position && old.Payee == n.Payee && old.DataShards == n.DataShards && old.Removed.IsZero() {
				continue
			}
			rec = old
			rec.Position, rec.Payee, rec.DataShards, rec.Removed = n.Position, n.Payee, n.DataShards, time.Time{}
		}
		if err := putJSON(ctx, keyNode, []string{volume, n.ID}, rec); err != nil {
			return nil, err
		}
		if err := event(rec, map[bool]string{false: "added", true: "changed"}[known]); err != nil {
			return nil, err
		}
	}
	// In id order: every peer must write the same events under the same keys.
	for _, id := range slices.Sorted(maps.Keys(current)) {
		old := current[id]
		if ids[id] || !old.Removed.IsZero() {
			continue
		}
		old.Removed = now
		if err := putJSON(ctx, keyNode, []string{volume, id}, old); err != nil {
			return nil, err
		}
		if err := event(old, "removed"); err != nil {
			return nil, err
		}
	}
	return &wire.PolicyOutcome{Status: "set"}, nil
}

// checkPayee checks a payee identity: printable, bounded.
func checkPayee(p string) error {
	if len(p) > wire.MaxPayee {
		return fmt.Errorf("payee longer than %d bytes", wire.MaxPayee)
	}
	for _, r := range p {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("payee holds a character that does not print")
		}
	}
	return nil
}

// volumeNodes reads every node record of a volume, removed ones included.
func volumeNodes(ctx contractapi.TransactionContextInterface, volume string) (map[string]wire.Node, error) {
	it, err := ctx.GetStub().GetStateByPartialCompositeKey(keyNode, []string{volume})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	out := map[string]wire.Node{}
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return nil, err
		}
		var n wire.Node
		if err := json.Unmarshal(kv.Value, &n); err != nil {
			return nil, fmt.Errorf("stored node is corrupt: %w", err)
		}
		out[n.ID] = n
	}
	return out, nil
}

// Nodes returns the volume's storage nodes, removed ones too, by position,
// to its members.
func (c *NodesContract) Nodes(ctx contractapi.TransactionContextInterface, volume string) ([]wire.Node, error) {
	if err := checkID("volume", volume); err != nil {
		return nil, err
	}
	if _, err := reader(ctx, volume); err != nil {
		return nil, err
	}
	nodes, err := volumeNodes(ctx, volume)
	if err != nil {
		return nil, err
	}
	return sortedNodes(nodes), nil
}

// sortedNodes lists nodes by position, current ones first.
func sortedNodes(nodes map[string]wire.Node) []wire.Node {
	out := make([]wire.Node, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, n)
	}
	sortNodes(out)
	return out
}

// sortNodes orders nodes by position, current ones first.
func sortNodes(ns []wire.Node) {
	less := func(a, b wire.Node) bool {
		if a.Removed.IsZero() != b.Removed.IsZero() {
			return a.Removed.IsZero()
		}
		if a.Position != b.Position {
			return a.Position < b.Position
		}
		return a.ID < b.ID
	}
	for i := 1; i < len(ns); i++ {
		for j := i; j > 0 && less(ns[j], ns[j-1]); j-- {
			ns[j], ns[j-1] = ns[j-1], ns[j]
		}
	}
}

// RecordScrub records what a scrub found on each of the volume's nodes,
// the owner only: each result is an audit event ("scrub") and adds to the
// node's record.
func (c *NodesContract) RecordScrub(ctx contractapi.TransactionContextInterface, volume, resultsJSON string) (*wire.PolicyOutcome, error) {
	if err := checkID("volume", volume); err != nil {
		return nil, err
	}
	var results []wire.ScrubResult
	if err := json.Unmarshal([]byte(resultsJSON), &results); err != nil {
		return nil, fmt.Errorf("results are not a JSON list: %w", err)
	}
	if len(results) == 0 || len(results) > wire.MaxNodes {
		return nil, fmt.Errorf("1 to %d results, not %d", wire.MaxNodes, len(results))
	}
	for i, r := range results {
		if err := checkID("node", r.Node); err != nil {
			return nil, fmt.Errorf("result %d: %w", i, err)
		}
		if r.Checked < 0 || r.Missing < 0 || r.Corrupt < 0 || r.Unreachable < 0 || r.Repaired < 0 {
			return nil, fmt.Errorf("result %d: negative counts", i)
		}
	}
	actor, now, denied, err := ownerOnly(ctx, "RecordScrub", volume, "")
	if err != nil || denied != nil {
		return denied, err
	}
	nodes, err := volumeNodes(ctx, volume)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i, r := range results {
		n, ok := nodes[r.Node]
		if !ok || seen[r.Node] {
			return nil, fmt.Errorf("result %d: node %s is not a node of volume %s, or is given twice", i, r.Node, volume)
		}
		seen[r.Node] = true
		r.Time = now
		n.Scrubs++
		n.Checked += r.Checked
		n.Missing += r.Missing
		n.Corrupt += r.Corrupt
		n.Last = &r
		if err := putJSON(ctx, keyNode, []string{volume, r.Node}, n); err != nil {
			return nil, err
		}
		d := map[string]string{"node": r.Node}
		for k, v := range map[string]int64{"checked": r.Checked, "missing": r.Missing, "corrupt": r.Corrupt, "unreachable": r.Unreachable, "repaired": r.Repaired} {
			d[k] = strconv.FormatInt(v, 10)
		}
		if err := putEvent(ctx, i+1, wire.Event{Time: now, Actor: actor, Action: "scrub", Volume: volume, Detail: d}); err != nil {
			return nil, err
		}
	}
	return &wire.PolicyOutcome{Status: "recorded"}, nil
}
