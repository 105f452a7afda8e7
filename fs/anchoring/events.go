package anchoring

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/anchorfs/anchorfs/chaincode/wire"
	"github.com/anchorfs/anchorfs/network"
	"github.com/anchorfs/anchorfs/retry"
)

// Events is the durable queue of audit events (reads, mounts, integrity
// failures, denials) waiting for the ledger: each is appended to a log in
// the cache folder as it happens, so that nothing waits on the ledger and
// a crash or a ledger that is down loses none; they go in batches, and a
// "sent" line follows each batch the ledger took. The log is written, not
// fsynced, per event: a killed process loses nothing, a power cut may lose
// the last events not yet sent.
type Events struct {
	mu      sync.Mutex
	cond    *sync.Cond
	file    *os.File
	pending []network.Event
	sent    int // events of the log sent so far
	kick    chan struct{}
	lastErr error
	sending sync.Mutex // one sender at a time: RunEvents or Flush
}

// eventLine is one line of the log: an event, or how many of the log's
// events the ledger has taken.
type eventLine struct {
	Event *network.Event `json:"event,omitempty"`
	Sent  int            `json:"sent,omitempty"`
}

// OpenEvents reads the event log in dir and rewrites it with the events
// still to send.
func OpenEvents(dir string) (*Events, error) {
	path := filepath.Join(dir, "events")
	q := &Events{kick: make(chan struct{}, 1)}
	q.cond = sync.NewCond(&q.mu)
	if b, err := os.ReadFile(path); err == nil {
		var all []network.Event
		sent := 0
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var l eventLine
			if json.Unmarshal(sc.Bytes(), &l) != nil {
				continue // a torn last line from a crash
			}
			if l.Event != nil {
				all = append(all, *l.Event)
			}
			sent = max(sent, l.Sent)
		}
		q.pending = all[min(sent, len(all)):]
	} else if !os.IsNotExist(err) {
		return nil, fmt.Errorf("event log: %w", err)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("event log: %w", err)
	}
	w := bufio.NewWriter(f)
	for i := range q.pending {
		writeLine(w, eventLine{Event: &q.pending[i]})
	}
	err = w.Flush()
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("event log: %w", err)
	}
	q.file = f
	return q, nil
}

func writeLine(w interface{ Write([]byte) (int, error) }, l eventLine) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Add queues an event: it is in the log when Add returns.
func (q *Events) Add(e network.Event) {
	q.mu.Lock()
	if err := writeLine(q.file, eventLine{Event: &e}); err != nil && q.lastErr == nil {
		q.lastErr = fmt.Errorf("event log: %w", err)
	}
	q.pending = append(q.pending, e)
	q.mu.Unlock()
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// Len is how many events wait for the ledger.
func (q *Events) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

// batch is up to max of the events waiting, oldest first.
func (q *Events) batch(max int) []network.Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]network.Event(nil), q.pending[:min(max, len(q.pending))]...)
}

// taken records that the ledger took the n oldest events.
func (q *Events) taken(n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pending = q.pending[n:]
	q.sent += n
	writeLine(q.file, eventLine{Sent: q.sent})
	q.cond.Broadcast()
}

// eventsGather is how long the sender waits after an event for others
// to join its transaction.
const eventsGather = time.Second

// RunEvents sends the queued events to the ledger with record, in batches
// of up to wire.MaxEvents, until ctx ends; a failed batch is tried again
// (retry.Ledger) for as long as the ledger is down.
func RunEvents(ctx context.Context, q *Events, record func([]network.Event) error, logf func(string, ...any)) {
	for {
		if q.Len() == 0 {
			select {
			case <-ctx.Done():
				return
			case <-q.kick:
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(eventsGather):
			}
		}
		if err := q.send(ctx, record, logf); err != nil {
			return
		}
	}
}

// send sends what is queued, retrying while the ledger is unavailable,
// until the queue is empty or ctx ends. A batch the chaincode refuses (a
// member revoked since) is dropped, and said so: it cannot be recorded.
func (q *Events) send(ctx context.Context, record func([]network.Event) error, logf func(string, ...any)) error {
	q.sending.Lock()
	defer q.sending.Unlock()
	unavailable := func(err error) bool { return errors.Is(err, network.ErrUnavailable) }
	for q.Len() > 0 {
		n := 0
		err := retry.Do(ctx, retry.Ledger, unavailable, func(err error, wait time.Duration) {
			logf("recording audit events: %v (retrying in %v)", err, wait.Round(time.Millisecond))
		}, func() error {
			b := q.batch(wire.MaxEvents)
			n = len(b)
			err := record(b)
			q.mu.Lock()
			q.lastErr = err
			q.mu.Unlock()
			if err == nil {
				q.taken(len(b))
			}
			return err
		})
		if err != nil && ctx.Err() == nil && !unavailable(err) {
			logf("the ledger refused %d audit events; they are dropped: %v", n, err)
			q.taken(n)
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Flush sends every queued event now, until ctx ends; what is left stays
// in the log for the next open.
func (q *Events) Flush(ctx context.Context, record func([]network.Event) error, logf func(string, ...any)) error {
	if err := q.send(ctx, record, logf); err != nil {
		q.mu.Lock()
		defer q.mu.Unlock()
		if q.lastErr != nil {
			return fmt.Errorf("%w (ledger: %v)", err, q.lastErr)
		}
		return err
	}
	return nil
}

// Close closes the log; what is queued is sent after the next open.
func (q *Events) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.file.Sync()
	return q.file.Close()
}
