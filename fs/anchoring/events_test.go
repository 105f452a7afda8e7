package anchoring

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/anchorfs/anchorfs/network"
)

// Events queued and not sent survive a reopen (a killed process); sent
// ones do not come back; a ledger that is down delays them, one that
// refuses them drops them.
func TestEventsSurviveReopenAndGoInBatches(t *testing.T) {
	dir := t.TempDir()
	q, err := OpenEvents(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		q.Add(network.Event{Action: "read", File: fmt.Sprint(i)})
	}
	// Killed here: no Close.
	q2, err := OpenEvents(dir)
	if err != nil {
		t.Fatal(err)
	}
	if q2.Len() != 5 {
		t.Fatalf("%d events after a reopen, want 5", q2.Len())
	}
	var mu sync.Mutex
	var got [][]network.Event
	down := true
	record := func(evs []network.Event) error {
		mu.Lock()
		defer mu.Unlock()
		if down {
			down = false
			return fmt.Errorf("%w: down for a moment", network.ErrUnavailable)
		}
		got = append(got, evs)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q2.Flush(ctx, record, t.Logf); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0]) != 5 || got[0][0].File != "0" || got[0][4].File != "4" {
		t.Fatalf("batches sent: %+v", got)
	}
	q2.Add(network.Event{Action: "mount"})
	// A torn last line, as a crash mid-write leaves.
	f, _ := os.OpenFile(filepath.Join(dir, "events"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"event":{"act`)
	f.Close()
	q2.Close()
	q3, err := OpenEvents(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b := q3.batch(100); len(b) != 1 || b[0].Action != "mount" {
		t.Fatalf("after a reopen: %+v", b)
	}
	refuse := func([]network.Event) error { return errors.New("not a member") }
	if err := q3.Flush(ctx, refuse, t.Logf); err != nil || q3.Len() != 0 {
		t.Fatalf("a refused batch: %v, %d left", err, q3.Len())
	}
	q3.Close()
}
