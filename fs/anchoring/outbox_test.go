package anchoring

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/anchorfs/anchorfs/network"
)

// TestOutboxSurvivesReopen: entries of a commit whose heads are up come
// back after a reopen (a crash), done entries do not, a torn last line is
// ignored, and only committed versions go to the ledger.
func TestOutboxSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	up := map[string]bool{}
	exists := func(name string) bool { return up[name] }
	ob, err := Open(dir, exists, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	a := network.Anchor{File: "f1", Version: 1}
	b := network.Anchor{File: "f2", Version: 1}
	c := network.Anchor{File: "f1", Version: 2}
	ob.Add(a, 0)
	ob.Add(b, 0)
	ob.Add(c, 0)
	if got := ob.Batch(10, nil); len(got) != 0 {
		t.Fatalf("versions no head names yet went to the ledger: %+v", got)
	}
	tag, err := ob.Durable(ob.Mark(), []string{"heads/h1"})
	if err != nil {
		t.Fatal(err)
	}
	ob.Committed(tag)
	if got := ob.Batch(10, nil); len(got) != 2 {
		t.Fatalf("a batch holds one version per file: %d entries", len(got))
	}
	ob.Done(map[string]bool{anchorKey(a): true})
	if _, err := ob.Durable(ob.Mark(), nil); err != nil { // flushes the done line
		t.Fatal(err)
	}
	ob.file.Close() // a crash: no clean close
	f, _ := os.OpenFile(filepath.Join(dir, "outbox"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"op":"done","anch`)
	f.Close()
	if n := Pending(dir); n != 2 {
		t.Fatalf("Pending = %d, want 2", n)
	}
	ob2, err := Open(dir, exists, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	got := ob2.sortedPending()
	if len(got) != 2 || got[0] != c || got[1] != b {
		t.Fatalf("after reopen: %+v", got)
	}
	// A commit that crashed before its heads were written: its versions go;
	// one whose heads did reach the remote (its last line lost) stays.
	d := network.Anchor{File: "f3", Version: 1}
	e := network.Anchor{File: "f4", Version: 1}
	ob2.Add(d, 0)
	if _, err := ob2.Durable(ob2.Mark(), []string{"heads/lost"}); err != nil {
		t.Fatal(err)
	}
	ob2.Add(e, 0)
	if _, err := ob2.Durable(ob2.Mark(), []string{"heads/up"}); err != nil {
		t.Fatal(err)
	}
	ob2.file.Close()
	up["heads/up"] = true
	ob3, err := Open(dir, exists, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer ob3.Close()
	got = ob3.sortedPending()
	if len(got) != 3 || got[2] != e || len(ob3.Batch(10, nil)) != 3 {
		t.Fatalf("after a crash mid-commit: %+v", got)
	}
}

// TestACommitTagsOnlyTheVersionsItsTreeHas: a version added after the
// commit sealed its tree waits for the next commit.
func TestACommitTagsOnlyTheVersionsItsTreeHas(t *testing.T) {
	ob, err := Open(t.TempDir(), func(string) bool { return false }, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	sealed := network.Anchor{File: "f1", Version: 1}
	later := network.Anchor{File: "f2", Version: 1}
	ob.Add(sealed, 0)
	mark := ob.Mark() // the commit seals its tree here
	ob.Add(later, 0)
	tag, err := ob.Durable(mark, []string{"heads/h"})
	if err != nil {
		t.Fatal(err)
	}
	ob.Committed(tag)
	if got := ob.Batch(10, nil); len(got) != 1 || got[0].Anchor != sealed {
		t.Fatalf("a commit made its tree's versions and a later one ready: %+v", got)
	}
}

// TestRunSendsWhatIsReadyAndTriesAgain: the loop sends a committed commit's
// versions and heads, tries again after the ledger failed, and stops with
// its context; a held head waits.
func TestRunSendsWhatIsReadyAndTriesAgain(t *testing.T) {
	ob, err := Open(t.TempDir(), func(string) bool { return false }, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	ob.Add(network.Anchor{File: "f1", Version: 1}, 0)
	held := network.Head{Hash: "parked", Seq: 2}
	tag, err := ob.Durable(ob.Mark(), []string{"heads/h"}, network.Head{Hash: "h", Seq: 1}, held)
	if err != nil {
		t.Fatal(err)
	}
	ob.Committed(tag)
	ctx, cancel := context.WithCancel(context.Background())
	sent := make(chan []Entry, 8)
	tries := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(ctx, ob, func(h *network.Head) bool { return h.Hash == "parked" }, func(batch []Entry) error {
			if tries++; tries < 3 {
				return errors.New("ledger down")
			}
			keys := map[string]bool{}
			for _, e := range batch {
				keys[e.key()] = true
			}
			ob.Done(keys)
			sent <- batch
			return nil
		}, t.Logf)
	}()
	batch := <-sent
	if tries != 3 || len(batch) != 2 {
		t.Fatalf("after %d tries the loop sent %+v", tries, batch)
	}
	if ob.Len() != 1 {
		t.Fatalf("%d entries left, want the held head", ob.Len())
	}
	cancel()
	<-done
}
