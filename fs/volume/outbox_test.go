package volume

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anchorfs/anchorfs/network"
)

func TestConflictName(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 4, 5, 0, time.UTC)
	for name, want := range map[string]string{
		"report.pdf":  "report (conflict laptop 2026-11-23 100405).pdf",
		"Makefile":    "Makefile (conflict laptop 2026-11-23 100405)",
		".bashrc":     ".bashrc (conflict laptop 2026-11-23 100405)",
		"a.tar.gz":    "a.tar (conflict laptop 2026-11-23 100405).gz",
		"no-host.txt": "no-host (conflict laptop 2026-11-23 100405).txt",
	} {
		if got := conflictName(name, "laptop", at); got != want {
			t.Errorf("conflictName(%q) = %q, want %q", name, got, want)
		}
	}
	if got := conflictName("x", "", at); got != "x (conflict unknown 2026-11-23 100405)" {
		t.Errorf("without a host: %q", got)
	}
}

// TestOutboxSurvivesReopen: entries of a commit whose heads are up come
// back after a reopen (a crash), done entries do not, a torn last line is
// ignored, and only committed versions go to the ledger.
func TestOutboxSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	up := map[string]bool{}
	exists := func(name string) bool { return up[name] }
	ob, err := openOutbox(dir, exists, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	a := network.Anchor{File: "f1", Version: 1}
	b := network.Anchor{File: "f2", Version: 1}
	c := network.Anchor{File: "f1", Version: 2}
	ob.add(a, 0)
	ob.add(b, 0)
	ob.add(c, 0)
	if got := ob.batch(10, nil); len(got) != 0 {
		t.Fatalf("versions no head names yet went to the ledger: %+v", got)
	}
	tag, err := ob.durable(ob.mark(), []string{"heads/h1"})
	if err != nil {
		t.Fatal(err)
	}
	ob.committed(tag)
	if got := ob.batch(10, nil); len(got) != 2 {
		t.Fatalf("a batch holds one version per file: %d entries", len(got))
	}
	ob.done(map[string]bool{anchorKey(a): true})
	if _, err := ob.durable(ob.mark(), nil); err != nil { // flushes the done line
		t.Fatal(err)
	}
	ob.file.Close() // a crash: no clean close
	f, _ := os.OpenFile(filepath.Join(dir, "outbox"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"op":"done","anch`)
	f.Close()
	if n := OutboxPending(dir); n != 2 {
		t.Fatalf("OutboxPending = %d, want 2", n)
	}
	ob2, err := openOutbox(dir, exists, t.Logf)
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
	ob2.add(d, 0)
	if _, err := ob2.durable(ob2.mark(), []string{"heads/lost"}); err != nil {
		t.Fatal(err)
	}
	ob2.add(e, 0)
	if _, err := ob2.durable(ob2.mark(), []string{"heads/up"}); err != nil {
		t.Fatal(err)
	}
	ob2.file.Close()
	up["heads/up"] = true
	ob3, err := openOutbox(dir, exists, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer ob3.close()
	got = ob3.sortedPending()
	if len(got) != 3 || got[2] != e || len(ob3.batch(10, nil)) != 3 {
		t.Fatalf("after a crash mid-commit: %+v", got)
	}
}

// TestConflictNamesAreFree: several conflicts of one file in one second
// each get a name of their own, and a merge names the side that moves aside
// from its id, the same on every writer.
func TestConflictNamesAreFree(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 4, 5, 0, time.UTC)
	d := &Node{entries: map[string]*Node{}}
	for _, want := range []string{
		"g (conflict vm 2026-11-23 100405).txt",
		"g (conflict vm 2026-11-23 100405 2).txt",
		"g (conflict vm 2026-11-23 100405 3).txt",
	} {
		got := freeConflictName(d, "g.txt", "vm", at)
		if got != want {
			t.Fatalf("freeConflictName = %q, want %q", got, want)
		}
		d.entries[got] = &Node{}
	}
	id := "3f9a1c2e00112233445566778899aabb"
	if got := mergeConflictName(d, "Makefile", id); got != "Makefile (conflict 3f9a1c2e)" {
		t.Fatalf("mergeConflictName = %q", got)
	}
	d.entries["notes (conflict 3f9a1c2e).md"] = &Node{}
	if got := mergeConflictName(d, "notes.md", id); got != "notes (conflict 3f9a1c2e 2).md" {
		t.Fatalf("mergeConflictName when taken = %q", got)
	}
}

// TestACommitTagsOnlyTheVersionsItsTreeHas: a version added after the
// commit sealed its tree waits for the next commit.
func TestACommitTagsOnlyTheVersionsItsTreeHas(t *testing.T) {
	ob, err := openOutbox(t.TempDir(), func(string) bool { return false }, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer ob.close()
	sealed := network.Anchor{File: "f1", Version: 1}
	later := network.Anchor{File: "f2", Version: 1}
	ob.add(sealed, 0)
	mark := ob.mark() // the commit seals its tree here
	ob.add(later, 0)
	tag, err := ob.durable(mark, []string{"heads/h"})
	if err != nil {
		t.Fatal(err)
	}
	ob.committed(tag)
	if got := ob.batch(10, nil); len(got) != 1 || got[0].Anchor != sealed {
		t.Fatalf("a commit made its tree's versions and a later one ready: %+v", got)
	}
}
