package chaincode

import (
	"encoding/json"
	"fmt"
	"github.com/anchorfs/anchorfs/chaincode/wire"
	"time"

	"github.com/hyperledger/fabric-contract-api-go/v2/contractapi"
)

// AuditContract records what happened to files (reads, integrity failures,
// denials) and answers compliance queries; the other contracts record their
// own events through it.
type AuditContract struct {
	contractapi.Contract
}

// recordable are the actions a client may record itself; anchors, heads,
// grants and joins are recorded by the contracts that perform them.
var recordable = map[string]bool{"read": true, "integrity": true, "denied": true}

// Record stores events the caller reports about volumes it is a member of.
// The actor and time are the transaction's, whatever the events claim.
func (c *AuditContract) Record(ctx contractapi.TransactionContextInterface, eventsJSON string) error {
	var events []wire.Event
	if err := json.Unmarshal([]byte(eventsJSON), &events); err != nil {
		return fmt.Errorf("events are not a JSON list: %w", err)
	}
	if len(events) == 0 || len(events) > wire.MaxEvents {
		return fmt.Errorf("record 1 to %d events, not %d", wire.MaxEvents, len(events))
	}
	for i, e := range events {
		if err := checkID("volume", e.Volume); err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
		if e.File != "" {
			if err := checkID("file", e.File); err != nil {
				return fmt.Errorf("event %d: %w", i, err)
			}
		}
		if !recordable[e.Action] {
			return fmt.Errorf("event %d: action %q cannot be recorded by a client", i, e.Action)
		}
		if len(e.Detail) > 16 {
			return fmt.Errorf("event %d: too many details", i)
		}
	}
	actor, err := Actor(ctx)
	if err != nil {
		return err
	}
	now, err := txTime(ctx)
	if err != nil {
		return err
	}
	members := map[string]bool{}
	for i, e := range events {
		if !members[e.Volume] {
			if _, err := reader(ctx, e.Volume); err != nil {
				return fmt.Errorf("event %d: %w", i, err)
			}
			members[e.Volume] = true
		}
		e.Actor, e.Time = actor, now
		if err := putEvent(ctx, i, e); err != nil {
			return err
		}
	}
	return nil
}

// Events returns the events that match the query, oldest first: all of
// the volume's to its owner, those about the folders granted to it to a
// joined grantee.
func (c *AuditContract) Events(ctx contractapi.TransactionContextInterface, queryJSON string) ([]wire.Event, error) {
	var q wire.Query
	if err := json.Unmarshal([]byte(queryJSON), &q); err != nil {
		return nil, fmt.Errorf("query is not JSON: %w", err)
	}
	if err := checkID("volume", q.Volume); err != nil {
		return nil, err
	}
	var since, until time.Time
	var err error
	if q.Since != "" {
		if since, err = time.Parse(time.RFC3339Nano, q.Since); err != nil {
			return nil, fmt.Errorf("since: %w", err)
		}
	}
	if q.Until != "" {
		if until, err = time.Parse(time.RFC3339Nano, q.Until); err != nil {
			return nil, fmt.Errorf("until: %w", err)
		}
	}
	r, err := reader(ctx, q.Volume)
	if err != nil {
		return nil, err
	}
	it, err := ctx.GetStub().GetStateByPartialCompositeKey(keyEvent, []string{q.Volume})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	out := []wire.Event{}
	for it.HasNext() {
		kv, err := it.Next()
		if err != nil {
			return nil, err
		}
		var e wire.Event
		if err := json.Unmarshal(kv.Value, &e); err != nil {
			return nil, fmt.Errorf("stored event is corrupt: %w", err)
		}
		if (q.File != "" && e.File != q.File) || (q.Actor != "" && e.Actor != q.Actor) || (q.Action != "" && e.Action != q.Action) ||
			(!since.IsZero() && e.Time.Before(since)) || (!until.IsZero() && e.Time.After(until)) {
			continue
		}
		if ok, err := r.event(e); err != nil {
			return nil, err
		} else if !ok {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}
