package chaincode

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/anchorfs/anchorfs/chaincode/wire"

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
var recordable = map[string]bool{"read": true, "download": true, "mount": true, "unmount": true, "integrity": true, "denied": true, "delete": true}

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
		if len(e.Detail) > wire.MaxDetails {
			return fmt.Errorf("event %d: more than %d details", i, wire.MaxDetails)
		}
		for k, v := range e.Detail {
			if len(k) > wire.MaxDetail || len(v) > wire.MaxDetail {
				return fmt.Errorf("event %d: a detail longer than %d bytes", i, wire.MaxDetail)
			}
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
	return chargeReads(ctx, actor, now, events)
}

// Events returns a page of the events that match the query, oldest
// first: all of the volume's to its owner; to a joined grantee its own,
// and those about the folders granted to it. A query by file, actor or
// action reads only that index; a time bound starts and ends the read.
// The page is a wire.EventPage in JSON, made of the stored events as they
// are (no decoding and encoding again of each, no schema check of a
// thousand: a query of many pages is several times faster).
func (c *AuditContract) Events(ctx contractapi.TransactionContextInterface, queryJSON string) (string, error) {
	page, err := events(ctx, queryJSON)
	if err != nil {
		return "", err
	}
	return string(page), nil
}

// eventFields are what a query filters events by.
type eventFields struct {
	Time   time.Time         `json:"time"`
	Actor  string            `json:"actor"`
	Action string            `json:"action"`
	File   string            `json:"file"`
	Detail map[string]string `json:"detail"`
}

func events(ctx contractapi.TransactionContextInterface, queryJSON string) ([]byte, error) {
	var q wire.Query
	if err := json.Unmarshal([]byte(queryJSON), &q); err != nil {
		return nil, fmt.Errorf("query is not JSON: %w", err)
	}
	if err := checkID("volume", q.Volume); err != nil {
		return nil, err
	}
	if q.File != "" {
		if err := checkID("file", q.File); err != nil {
			return nil, err
		}
	}
	if len(q.Actor) > wire.MaxPayee || len(q.Action) > wire.MaxDetail {
		return nil, errors.New("actor or action too long")
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
	limit := q.Limit
	if limit <= 0 || limit > wire.MaxPage {
		limit = wire.MaxPage
	}
	r, err := reader(ctx, q.Volume)
	if err != nil {
		return nil, err
	}
	stub := ctx.GetStub()
	index, attrs := keyEvent, []string{q.Volume}
	switch {
	case !r.indexed:
	case q.File != "":
		index, attrs = keyEventByFile, []string{q.Volume, q.File}
	case q.Actor != "":
		index, attrs = keyEventByActor, []string{q.Volume, q.Actor}
	case q.Action != "":
		index, attrs = keyEventByAction, []string{q.Volume, q.Action}
	}
	start, err := pageFrom(ctx, index, attrs, q.After, since)
	if err != nil {
		return nil, err
	}
	// Each entry's key holds its events' time: the until bound ends the
	// page without reading the events past it.
	var untilKey string
	if !until.IsZero() {
		untilKey = until.UTC().Format(timeKey)
	}
	var keys, values []string
	scanned, next := 0, ""
	// take adds to the page the events numbered ns (from on) of the
	// transaction txid at time: false once the page is full, with next
	// where the rest of them start.
	take := func(at, txid string, ns []int, from int) (bool, error) {
		for _, n := range ns {
			if n < from {
				continue
			}
			if scanned == limit {
				k, err := stub.CreateCompositeKey(index, append(slices.Clone(attrs), at, txid, eventNumber(n)))
				next = k
				return false, err
			}
			k, err := stub.CreateCompositeKey(keyEvent, []string{q.Volume, at, txid, eventNumber(n)})
			if err != nil {
				return false, err
			}
			keys = append(keys, k)
			scanned++
		}
		return true, nil
	}
	perTx := index == keyEventByActor || index == keyEventByAction
	more := true
	if perTx && q.After != "" {
		// A page that ended inside a transaction's entry: the rest of it
		// first. (After is then txid~n, where an older ledger's entries
		// of one event each are keyed: those have no entry of their
		// transaction.)
		if _, parts, err := stub.SplitCompositeKey(q.After); err == nil && len(parts) == len(attrs)+3 {
			entry, err := stub.CreateCompositeKey(index, parts[:len(attrs)+2])
			if err != nil {
				return nil, err
			}
			v, err := stub.GetState(entry)
			if err != nil {
				return nil, err
			}
			from, ferr := strconv.Atoi(parts[len(attrs)+2])
			if v != nil && ferr == nil && (untilKey == "" || parts[len(attrs)] <= untilKey) {
				ns, err := parseEventNumbers(v)
				if err != nil {
					return nil, err
				}
				if more, err = take(parts[len(attrs)], parts[len(attrs)+1], ns, from); err != nil {
					return nil, err
				}
			}
		}
	}
	done := false
	entries := 0
	if more {
		it, meta, err := stub.GetStateByPartialCompositeKeyWithPagination(index, attrs, int32(limit), start)
		if err != nil {
			return nil, err
		}
		defer it.Close()
		for more && it.HasNext() {
			kv, err := it.Next()
			if err != nil {
				return nil, err
			}
			_, parts, err := stub.SplitCompositeKey(kv.Key)
			if err != nil || len(parts) != len(attrs)+3 && !(perTx && len(parts) == len(attrs)+2) {
				return nil, fmt.Errorf("stored event key %q is corrupt", kv.Key)
			}
			if untilKey != "" && parts[len(attrs)] > untilKey {
				done = true
				break
			}
			if scanned == limit {
				next, more = kv.Key, false
				break
			}
			entries++
			switch {
			case index == keyEvent:
				values = append(values, string(kv.Value))
				scanned++
			case len(parts) == len(attrs)+3: // one event's entry
				k, err := stub.CreateCompositeKey(keyEvent, append([]string{q.Volume}, parts[len(attrs):]...))
				if err != nil {
					return nil, err
				}
				keys = append(keys, k)
				scanned++
			default: // a transaction's entry
				ns, err := parseEventNumbers(kv.Value)
				if err != nil {
					return nil, err
				}
				if more, err = take(parts[len(attrs)], parts[len(attrs)+1], ns, 0); err != nil {
					return nil, err
				}
			}
		}
		if more && !done && entries == limit && meta != nil && meta.Bookmark != "" {
			next = meta.Bookmark
		}
	}
	if index != keyEvent {
		got, err := stub.GetMultipleStates(keys...)
		if err != nil {
			return nil, err
		}
		for _, b := range got {
			values = append(values, string(b))
		}
	}
	// The owner's query on one index needs nothing of its events but
	// their time, which their keys told.
	decode := !r.owner || index == keyEvent && (q.File != "" || q.Actor != "" || q.Action != "") ||
		q.File != "" && (q.Actor != "" || q.Action != "") || q.Actor != "" && q.Action != ""
	page := []byte(`{"events":[`)
	n := 0
	for _, b := range values {
		if b == "" {
			return nil, errors.New("an indexed event is not stored")
		}
		if decode {
			var e eventFields
			if err := json.Unmarshal([]byte(b), &e); err != nil {
				return nil, fmt.Errorf("stored event is corrupt: %w", err)
			}
			if (q.File != "" && e.File != q.File) || (q.Actor != "" && e.Actor != q.Actor) || (q.Action != "" && e.Action != q.Action) {
				continue
			}
			if ok, err := r.event(wire.Event{Actor: e.Actor, File: e.File, Detail: e.Detail}); err != nil {
				return nil, err
			} else if !ok {
				continue
			}
		}
		if n > 0 {
			page = append(page, ',')
		}
		page = append(page, b...)
		n++
	}
	page = append(page, ']')
	if next != "" {
		b, _ := json.Marshal(next)
		page = append(append(page, `,"next":`...), b...)
	}
	return append(page, '}'), nil
}
